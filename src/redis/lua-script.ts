import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { redact } from './redact';

const ignore = (): void => undefined;

/** ASKING before a command on a cluster node's own connection; its failure shows in the script's own reply (ASK or MOVED again). */
function askOn(client: Redis | Cluster): void {
  (client as Redis).asking().catch(ignore);
}

/**
 * One Lua script, sent by SHA (EVALSHA) and loaded on demand: a server that
 * has not seen it (new, restarted, flushed) answers NOSCRIPT and gets the
 * body once through EVAL, which also caches it there.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly lua: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /**
   * Not async: the command is written before this returns, in the caller's turn.
   * `asking`: on a cluster node's own connection, follows an ASK redirection
   * (ASKING holds for the one command after it, so it precedes each send).
   */
  run(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number)[], asking = false): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) {
      return Promise.reject(new Error(`script expects ${this.numberOfKeys} keys, got ${keys.length}`));
    }
    if (asking) askOn(client);
    return client.evalsha(this.sha, this.numberOfKeys, ...keys, ...args).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw redact(error);
      if (asking) askOn(client);
      return client.eval(this.lua, this.numberOfKeys, ...keys, ...args).catch((evalError: unknown) => {
        throw redact(evalError);
      });
    });
  }

  /**
   * For a script over many items (`<name>-<keysPerItem>.lua`, such as
   * lock/renew-many-2.lua): `numberOfKeys` keys per item, any number of
   * items. Keys and arguments go as one array, never spread into a call
   * (tens of thousands of them would overflow the stack).
   */
  runBatch(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (keys.length === 0 || keys.length % this.numberOfKeys !== 0) {
      return Promise.reject(new Error(`script expects ${this.numberOfKeys} keys per item, got ${keys.length}`));
    }
    const values = [...keys, ...args.map(String)];
    return client.evalsha(this.sha, keys.length, values).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw redact(error);
      return client.eval(this.lua, keys.length, values).catch((evalError: unknown) => {
        throw redact(evalError);
      });
    });
  }
}
