/**
 * Where a lock lives in Redis.
 *
 * Every key of one lock shares one hash tag, `{<name>}`, so the scripts that
 * touch them run unchanged on Redis Cluster. The name and the prefix are
 * escaped so that neither can contain a brace: the first `{` of a key is then
 * always the start of the name, which keeps the layout injective
 * (`x` + `a:b` -> `x:lock:{a:b}` is never `x:a` + `b` -> `x:a:lock:{b}`)
 * and keeps one lock in one slot whatever characters its name holds.
 */
export interface LockKeys {
  /** The lock's name, for messages. */
  readonly name: string;
  /** The hash that records the holders of the lock. */
  readonly state: string;
  /** The fencing counter; it outlives the state by the fence retention. */
  readonly fence: string;
  /** The keyspace-notification channel of `state`. */
  readonly channel: string;
}

/**
 * `kind` names the kind of hold in the key (`lock`, `election`): each kind
 * has keys of its own, so an election never meets a lock of the same name.
 * `clientKeyPrefix` is the ioredis `keyPrefix` option of the client, which
 * ioredis adds to every key it sends but not to channel names.
 */
export function lockKeys(prefix: string, name: string, db: number, clientKeyPrefix = '', kind = 'lock'): LockKeys {
  const state = `${prefix === '' ? '' : `${escapeKeyPart(prefix)}:`}${kind}:{${escapeKeyPart(name)}}`;
  return { name, state, fence: `${state}:fence`, channel: keyspaceChannel(db, clientKeyPrefix + state) };
}

export function keyspaceChannel(db: number, key: string): string {
  return `__keyspace@${db}__:${key}`;
}

/** Percent-escapes `%`, `{` and `}`; everything else stays readable. */
export function escapeKeyPart(part: string): string {
  return part.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

/**
 * Where a semaphore lives: the same layout under `semaphore:` instead of
 * `lock:`, so that a semaphore and a lock of one name never meet. Its
 * scripts use the hash only (its fence counter is a field of it); `fence`
 * names the key a separate counter would have, in the same slot.
 */
export function semaphoreKeys(prefix: string, name: string, db: number, clientKeyPrefix = ''): LockKeys {
  const state = `${prefix === '' ? '' : `${escapeKeyPart(prefix)}:`}semaphore:{${escapeKeyPart(name)}}`;
  return { name, state, fence: `${state}:fence`, channel: keyspaceChannel(db, clientKeyPrefix + state) };
}
