import { ownerToken } from './owner-token';

const processTag = ownerToken().slice(0, 8);
let releaseCount = 0;

/**
 * An id for one release's wake-up message, so that the releasing process can
 * skip the wake-up it already acted on. Unique in this process, and between
 * processes with overwhelming likelihood.
 */
export function nextReleaseId(): string {
  releaseCount += 1;
  return `${processTag}.${releaseCount.toString(36)}`;
}
