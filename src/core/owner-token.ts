import { randomFillSync } from 'node:crypto';

const TOKEN_BYTES = 16;
const POOL_TOKENS = 256;
const pool = Buffer.alloc(TOKEN_BYTES * POOL_TOKENS);
let next = POOL_TOKENS;

/**
 * A fresh owner token: 128 bits from the operating system's CSPRNG, as 32
 * hex characters. Bytes are drawn 4 KiB at a time (each byte is used once),
 * since a crypto call per acquisition showed in profiles.
 */
export function ownerToken(): string {
  if (next === POOL_TOKENS) {
    randomFillSync(pool);
    next = 0;
  }
  const start = next * TOKEN_BYTES;
  next += 1;
  return pool.toString('hex', start, start + TOKEN_BYTES);
}
