import { Mutex } from 'async-mutex';
import type { ContenderSpec, Held, LockAdapter } from './types';

/** One mutex per name per process, shared by every adapter (logical worker) of the process. */
const mutexes = new Map<string, Mutex>();

function held(releaser: () => void): Held {
  return {
    release: () => {
      releaser();
      return Promise.resolve();
    },
  };
}

class AsyncMutexAdapter implements LockAdapter {
  constructor(private readonly prefix: string) {}

  async acquire(name: string): Promise<Held> {
    return held(await this.mutex(name).acquire());
  }

  enqueue(name: string, onHeld: (held: Held) => void): void {
    void this.mutex(name)
      .acquire()
      .then((releaser) => onHeld(held(releaser)));
  }

  private mutex(name: string): Mutex {
    const key = `${this.prefix}:${name}`;
    let mutex = mutexes.get(key);
    if (mutex === undefined) {
      mutex = new Mutex();
      mutexes.set(key, mutex);
    }
    return mutex;
  }

  close(): Promise<void> {
    for (const key of [...mutexes.keys()]) if (key.startsWith(`${this.prefix}:`) && !mutexes.get(key)?.isLocked()) mutexes.delete(key);
    return Promise.resolve();
  }
}

export const asyncMutexContender: ContenderSpec = {
  id: 'async-mutex',
  label: 'floor: async-mutex (one process)',
  family: 'floor',
  packageName: 'async-mutex',
  settings: 'Mutex per name; every logical worker in one process (no network)',
  polling: false,
  inProcess: true,
  aggressive: false,
  create: (options) => Promise.resolve(new AsyncMutexAdapter(options.prefix)),
};
