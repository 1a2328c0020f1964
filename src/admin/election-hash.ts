import type { ElectionInfo } from './hold-info';

/**
 * Who leads, by an election's hash at `nowMs` (the server's clock): the
 * layout is described in src/redis/scripts/includes/read-leader.lua (`w`
 * the leader's token, never returned, `wf` its fence, `wx` its expiry, `wv`
 * its value, `wr` its proclaims). Undefined when nobody leads: no leader
 * recorded, or its lease is over even if the hash is still there.
 */
export function readElectionHash(
  name: string,
  prefix: string,
  fields: Readonly<Record<string, string>>,
  nowMs: number,
): ElectionInfo | undefined {
  const expiry = Number(fields.wx);
  const fence = Number(fields.wf);
  if (fields.w === undefined || !(expiry > nowMs) || !Number.isSafeInteger(fence)) return undefined;
  const proclaims = Number(fields.wr ?? 0);
  return {
    name,
    prefix,
    kind: 'election',
    value: fields.wv ?? '',
    fence,
    expiresInMs: expiry - nowMs,
    proclaims: Number.isSafeInteger(proclaims) ? proclaims : 0,
  };
}
