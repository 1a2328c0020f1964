import type { SemaphoreHolder, SemaphoreInfo } from './hold-info';

/** `<expiry>:<fence>:<permits>:<since>:<label>`; labels may hold anything. */
const GRANT = /^(\d+):(\d+):(\d+):(?:(\d+):([\s\S]*))?$/;
/** A ticket in the fair line: `<expiry>:<seq>:<permits>`. */
const TICKET = /^(\d+):\d+:\d+$/;

/**
 * What a semaphore's hash says at `nowMs` (the server's clock), read in the
 * one place outside Lua that knows its fields (the layout is described in
 * src/redis/scripts/includes/read-permits.lua): `lim` the limit, `p:<token>`
 * one grant, `t:<token>` a ticket. Grants and tickets whose expiry has
 * passed are dead even if their field is still there; fields it does not
 * know are ignored. Tokens never leave this function.
 */
export function readSemaphoreHash(
  name: string,
  prefix: string,
  fields: Readonly<Record<string, string>>,
  nowMs: number,
): SemaphoreInfo {
  const holders: SemaphoreHolder[] = [];
  let waiting = 0;
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith('p:')) {
      const grant = GRANT.exec(value);
      if (grant === null || Number(grant[1]) <= nowMs) continue;
      const label = grant[5];
      holders.push({
        permits: Number(grant[3]),
        fence: Number(grant[2]),
        ...(label === undefined || label === '' ? {} : { label }),
        ...(grant[4] === undefined ? {} : { since: Number(grant[4]) }),
        expiresInMs: Number(grant[1]) - nowMs,
      });
    } else if (field.startsWith('t:')) {
      const ticket = TICKET.exec(value);
      if (ticket !== null && Number(ticket[1]) > nowMs) waiting++;
    }
  }
  holders.sort((a, b) => a.fence - b.fence);
  const limit = Number(fields.lim);
  return {
    name,
    prefix,
    kind: 'semaphore',
    ...(Number.isSafeInteger(limit) && limit > 0 ? { limit } : {}),
    held: holders.reduce((sum, h) => sum + h.permits, 0),
    holders,
    waiting,
  };
}
