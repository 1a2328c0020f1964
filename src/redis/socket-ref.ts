import type { Redis } from 'ioredis';

/**
 * Lets an idle yadl-owned connection stop holding the process open (like an
 * unref'd timer), and makes it hold it again once in use.
 */
export function setSocketRef(client: Redis, ref: boolean): void {
  const stream = (client as { stream?: { ref?: () => void; unref?: () => void } }).stream;
  if (ref) stream?.ref?.();
  else stream?.unref?.();
}
