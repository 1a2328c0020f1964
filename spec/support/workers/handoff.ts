/**
 * The other side of the cross-process handoff test, driven over IPC.
 * Env: REDIS_URL, PREFIX, NAME. Every answer carries the `round` of its
 * command. {cmd:'wait'} subscribes and answers {queued:true} once it waits
 * (or {acquired} if the lock was free);
 * {cmd:'release'} answers {released: t} and unsubscribes at t;
 * {cmd:'exit'} disconnects. It answers {acquired: t, fence} when it gets the
 * lock. Times are performance.timeOrigin + performance.now(), comparable
 * across processes.
 */
import type { Subscription } from 'rxjs';
import { diagnostics } from '../../../src/diagnostics';
import { lock$ } from '../../../src/index';

const { REDIS_URL: url = '', PREFIX: prefix = '', NAME: name = 'handoff' } = process.env;
const now = (): number => performance.timeOrigin + performance.now();
const send = (message: Record<string, unknown>): void => void process.send?.(message);
let subscription: Subscription | undefined;
let held = false;

process.on('message', (message: { cmd: string; round: number }) => {
  const { round } = message;
  if (message.cmd === 'wait') {
    held = false;
    subscription = lock$(name, { redis: url, prefix }).subscribe({
      next: (lease) => {
        held = true;
        send({ round, acquired: now(), fence: lease.fence });
      },
      error: (error: unknown) => send({ round, error: String(error) }),
    });
    const queued = (): void => {
      if (held) return;
      if (diagnostics.waitQueues > 0) send({ round, queued: true });
      else setTimeout(queued, 1);
    };
    queued();
  } else if (message.cmd === 'release') {
    const at = now();
    subscription?.unsubscribe();
    send({ round, released: at });
  } else if (message.cmd === 'exit') {
    subscription?.unsubscribe();
    process.disconnect();
  }
});
send({ ready: true });
