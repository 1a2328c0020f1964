import { Redis } from 'ioredis';

let sent = 0;
let installed = false;

type SendCommand = (this: Redis, ...args: unknown[]) => unknown;

/**
 * Counts the commands this process's ioredis clients write to Redis (all
 * contenders use ioredis), so that a scenario can tell requests sent apart
 * from INFO commandstats, which also counts the commands run inside Lua
 * scripts. A command queued while a connection is not ready is counted when
 * it is written.
 */
export function installCommandCounter(): void {
  if (installed) return;
  installed = true;
  const proto = Redis.prototype as unknown as { sendCommand: SendCommand };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: Redis, ...args: unknown[]): unknown {
    if (this.status === 'ready' || this.status === 'connect') sent += 1;
    return original.apply(this, args);
  };
}

export function commandsSent(): number {
  return sent;
}
