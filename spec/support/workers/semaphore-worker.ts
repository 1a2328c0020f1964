/**
 * A process that takes and gives back semaphore permits on command, for the
 * semaphore specs across processes. Env: REDIS_URL, PREFIX, NAME, LEASE.
 *
 * IPC in: { op: 'acquire', id, permits, ttl } (ttl 0: a renewed lease),
 * { op: 'release', id }. IPC out: { ev: 'ready' }, { ev: 'granted', id,
 * fence }, { ev: 'released', id }, { ev: 'ended', id, error, reason } (a
 * grant lost, or an acquisition refused). Each grant is one RedisSemaphore
 * instance labelled '<LABEL>:<id>', so that its field in Redis names it.
 */
import { RedisSemaphore } from '../../../src/index';

const { REDIS_URL: redis = '', PREFIX: prefix = '', NAME: name = 'pool', LEASE = '30000', LABEL = 'w' } = process.env;
const held = new Map<number, RedisSemaphore>();
const send = (message: Record<string, unknown>): void => {
  process.send?.(message);
};

process.on('message', (message: { op: string; id: number; permits?: number; ttl?: number }) => {
  if (message.op === 'acquire') {
    const { id, permits = 1, ttl = 0 } = message;
    const sem = new RedisSemaphore(name, { redis, prefix, lease: Number(LEASE), ttl, label: `${LABEL}:${id}` });
    sem.acquire({ permits }).then(
      () => {
        held.set(id, sem);
        const signal = sem.signal;
        signal?.addEventListener('abort', () => {
          if (!held.delete(id)) return;
          const reason = String((signal.reason as { reason?: string }).reason);
          send({ ev: 'ended', id, error: 'LockLostError', reason });
        });
        send({ ev: 'granted', id, fence: sem.fence });
      },
      (error: unknown) => send({ ev: 'ended', id, error: (error as Error).name, reason: (error as Error).message }),
    );
  } else if (message.op === 'release') {
    const sem = held.get(message.id);
    if (sem === undefined) return;
    held.delete(message.id);
    sem.release({ permits: sem.held }).then(
      () => send({ ev: 'released', id: message.id }),
      (error: unknown) => send({ ev: 'released', id: message.id, error: (error as Error).name }),
    );
  }
});
send({ ev: 'ready' });
