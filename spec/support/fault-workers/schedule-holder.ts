/**
 * One process of the randomized schedule test (spec/faults/schedule.model.spec.ts),
 * driven over IPC; it lives across runs until the test ends or SIGKILLs it.
 *
 * {op:'run'} gives it its holders for one run: each starts at t0 + startMs
 * (those due at the same moment in the same turn, in plan order),
 * through lock$ or the facade, holds holdMs after the grant and releases,
 * unless it times out, is cancelled (unsubscribe, or its AbortSignal, after a
 * number of microtasks or ms) or loses the hold first. It reports every step
 * as an event on CLOCK_MONOTONIC (process.hrtime, shared by every process on
 * the machine): the grant with its fence, the end of the believed hold (its
 * own release or cancel, or the lease's signal aborting), errors (whether
 * they are yadl LockErrors), and when nothing more will happen.
 *
 * {op:'quiesce'} answers once yadl's diagnostics are back to zero and no
 * timer but the heartbeat is left (or after withinMs, with what is left).
 *
 * Always: a heartbeat every 20 ms (sent in batches, with the process' CPU
 * time), and every unhandled rejection or uncaught exception reported.
 */
import { diagnostics } from '../../../src/diagnostics';
import { LockError, RedisLock, RedisReadLock, RedisWriteLock, lock$, type Lease } from '../../../src/index';
import type { FromWorker, HolderEvent, HolderPlan, ToWorker } from '../../faults/schedule-plan';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1_000;
};

function send(message: FromWorker): void {
  try {
    process.send?.(message);
  } catch {
    // the test went away; 'disconnect' ends this process
  }
}

process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (reason: unknown) => {
  send({ type: 'unhandled', kind: 'rejection', message: describeError(reason), t: now() });
});
process.on('uncaughtException', (error: unknown) => {
  send({ type: 'unhandled', kind: 'exception', message: describeError(error), t: now() });
});

// ------------------------------------------------------------- heartbeat

const HEARTBEAT_MS = 20;
let beats: number[] = [];
let beatsCpu: number[] = [];
const heartbeat = setInterval(() => {
  beats.push(now());
  beatsCpu.push(cpuMs());
  if (beats.length >= 5) flushBeats();
}, HEARTBEAT_MS);

function flushBeats(): void {
  send({ type: 'hb', times: beats, cpu: beatsCpu });
  beats = [];
  beatsCpu = [];
}

/** Ref'd timers besides the heartbeat. */
function otherTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length - (heartbeat.hasRef() ? 1 : 0);
}

// ------------------------------------------------------------- holders

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** The abort reason of the schedule's cancellations, recognised when it comes back as an error. */
class ScheduleCancel extends Error {
  override name = 'ScheduleCancel';
}

/** Called with every grant in this process (the `grantPlusMicrotasks` cancellations listen). */
const grantListeners = new Set<(id: number) => void>();

function afterMicrotasks(count: number, then: () => void): void {
  if (count === 0) return then();
  let chain = Promise.resolve();
  for (let i = 1; i < count; i++) chain = chain.then(() => undefined);
  void chain.then(then);
}

function runHolder(run: number, url: string, prefix: string, h: HolderPlan): void {
  const emit = (event: HolderEvent): void => send({ type: 'event', run, id: h.id, t: now(), ...event });
  const reason = new ScheduleCancel(`holder #${h.id} cancelled by the schedule`);
  const controller = new AbortController();
  let granted = false;
  let believing = false;
  let finished = false;
  let holdTimer: NodeJS.Timeout | undefined;
  let cancelTimer: NodeJS.Timeout | undefined;

  const endBelief = (why: 'release' | 'cancel' | 'signal' | 'error', detail?: string): void => {
    if (!believing) return;
    believing = false;
    emit({ ev: 'belief-end', why: why === 'error' ? 'signal' : why, reason: why === 'error' ? `error before the signal aborted: ${detail}` : detail });
  };
  let onOtherGrant: ((id: number) => void) | undefined;
  const done = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(holdTimer);
    clearTimeout(cancelTimer);
    if (onOtherGrant !== undefined) grantListeners.delete(onOtherGrant);
    emit({ ev: 'done' });
  };
  const failed = (where: 'lock' | 'release', error: unknown): void => {
    emit({
      ev: 'error',
      where,
      name: error instanceof Error ? error.name : typeof error,
      message: describeError(error),
      lockError: error instanceof LockError,
      ours: error === reason,
    });
  };
  const onGranted = (fence: number, signal: AbortSignal | undefined): void => {
    granted = true;
    believing = true;
    emit({ ev: 'granted', fence, mode: h.mode === 'read' ? 'read' : 'write' });
    for (const listener of [...grantListeners]) listener(h.id);
    if (signal === undefined) endBelief('signal', 'no signal on the lease');
    else if (signal.aborted) endBelief('signal', `aborted at the grant: ${describeError(signal.reason)}`);
    else signal.addEventListener('abort', () => endBelief('signal', describeError(signal.reason)), { once: true });
  };

  let release: () => void;
  let cancel: () => void;
  emit({ ev: 'start' });

  if (h.via === 'lock$') {
    const options = {
      redis: url,
      prefix,
      mode: h.mode,
      timeout: h.timeout,
      redisTimeout: h.redisTimeout,
      ...(h.ttl !== undefined ? { ttl: h.ttl } : { lease: h.lease }),
      ...(h.cancel?.how === 'abort' ? { signal: controller.signal } : {}),
    };
    const subscription = lock$(h.name, options).subscribe({
      next: (lease: Lease) => {
        onGranted(lease.fence, lease.signal);
        holdTimer = setTimeout(release, h.holdMs);
      },
      error: (error: unknown) => {
        endBelief('error', describeError(error));
        failed('lock', error);
        done();
      },
    });
    release = () => {
      if (finished) return;
      endBelief('release');
      subscription.unsubscribe();
      done();
    };
    cancel = () => {
      if (finished) return;
      emit({ ev: 'cancel', held: granted });
      endBelief('cancel');
      if (h.cancel?.how === 'abort') {
        controller.abort(reason); // errors with the reason (also when held: the hold is released), then done
      } else {
        subscription.unsubscribe();
        done();
      }
    };
  } else {
    const options = {
      redis: url,
      prefix,
      redisTimeout: h.redisTimeout,
      ...(h.ttl !== undefined ? { ttl: h.ttl } : { lease: h.lease }),
    };
    const lock = h.mode === 'read' ? new RedisReadLock(h.name, options) : h.mode === 'write' ? new RedisWriteLock(h.name, options) : new RedisLock(h.name, options);
    let releasing = false;
    const acquiring =
      h.timeout === 0 ? lock.acquire({ blocking: false, signal: controller.signal }) : lock.acquire({ timeout: h.timeout, signal: controller.signal });
    acquiring.then(
      (acquired) => {
        if (!acquired) {
          emit({ ev: 'timed-out' });
          done();
          return;
        }
        onGranted(lock.fence ?? -1, lock.signal);
        holdTimer = setTimeout(release, h.holdMs);
      },
      (error: unknown) => {
        failed('lock', error);
        done();
      },
    );
    release = () => {
      if (finished || releasing) return;
      releasing = true;
      clearTimeout(holdTimer);
      endBelief('release');
      lock.release().then(done, (error: unknown) => {
        failed('release', error);
        done();
      });
    };
    cancel = () => {
      if (finished || releasing) return;
      emit({ ev: 'cancel', held: granted });
      if (granted) {
        endBelief('cancel');
        release();
      } else {
        controller.abort(reason);
      }
    };
  }

  const when = h.cancel?.after;
  if (when === undefined) return;
  if ('ms' in when) {
    cancelTimer = setTimeout(cancel, when.ms);
  } else if ('microtasks' in when) {
    afterMicrotasks(when.microtasks, cancel);
  } else {
    const listener = (id: number): void => {
      if (id === h.id) return;
      grantListeners.delete(listener);
      afterMicrotasks(when.grantPlusMicrotasks, cancel);
    };
    if (finished) return;
    onOtherGrant = listener;
    grantListeners.add(listener);
  }
}

// ------------------------------------------------------------- commands

function quiesce(run: number, withinMs: number): void {
  const until = now() + withinMs;
  const check = (): void => {
    const quiet =
      diagnostics.connectionUsers === 0 &&
      diagnostics.ownedClients === 0 &&
      diagnostics.channels === 0 &&
      diagnostics.waitQueues === 0 &&
      otherTimers() <= 0;
    if (quiet || now() > until) {
      send({ type: 'quiet', run, quiet, diagnostics: { ...diagnostics }, timers: otherTimers() });
      return;
    }
    // From an immediate: inside its own callback a timer still counts as active.
    setTimeout(() => setImmediate(check), 25);
  };
  check();
}

process.on('message', (message: ToWorker) => {
  if (message.op === 'run') {
    const { run, url, prefix, t0, holders } = message;
    // Holders due at the same moment start in the same turn, one after the other (like race() or merge()),
    // so that their first attempts go out together.
    const moments = new Map<number, HolderPlan[]>();
    for (const h of holders) moments.set(h.startMs, [...(moments.get(h.startMs) ?? []), h]);
    for (const [startMs, due] of moments) {
      setTimeout(() => due.forEach((h) => runHolder(run, url, prefix, h)), Math.max(0, t0 + startMs - now()));
    }
  } else if (message.op === 'quiesce') {
    // Wait a turn so that the quiesce poll timer itself is not counted.
    setImmediate(() => quiesce(message.run, message.withinMs));
  }
});

send({ type: 'ready', pid: process.pid });
