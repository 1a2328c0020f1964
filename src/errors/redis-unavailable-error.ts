import { LockError } from './lock-error';

/**
 * Redis did not answer within `redisTimeout` (unreachable, refusing
 * connections or stalled), or kept answering with a transient reply
 * (TRYAGAIN during a slot migration, CLUSTERDOWN during a failover, LOADING,
 * READONLY...) for that long. Whether a lock was taken is then unknown to the
 * caller; yadl releases it by its owner token if the answer comes late.
 */
export class RedisUnavailableError extends LockError {
  override name = 'RedisUnavailableError';
  /** The last reply Redis gave, when it answered at all (e.g. `TRYAGAIN Multiple keys request during rehashing of slot`). */
  readonly lastReply: string | undefined;

  /**
   * The message names the last reply when there was one: given as `reply`,
   * or carried by `cause` (a Redis reply error, or ioredis' "Too many
   * Cluster redirections. Last error: ..." wrapping one). Otherwise Redis
   * was silent and the message says it "did not answer".
   */
  constructor(
    lock: string | undefined,
    /** Where yadl tried to reach Redis (no password). */
    readonly server: string,
    readonly redisTimeout: number,
    options?: ErrorOptions & { waited?: number; reply?: string },
  ) {
    const waited = options?.waited ?? redisTimeout;
    const reply = options?.reply ?? replyIn(options?.cause);
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(describe(server, waited, reply, cause), lock, options);
    this.lastReply = reply;
  }
}

function describe(server: string, waited: number, reply: string | undefined, cause: string): string {
  if (reply === undefined) return `Redis at ${server} did not answer within ${waited} ms${cause}`;
  // ioredis follows MOVED and ASK itself, and retries TRYAGAIN and CLUSTERDOWN on a
  // random primary that answers MOVED back: when it gives up, its last reply may be
  // just a redirection.
  if (/^(MOVED|ASK) /.test(reply)) return `Redis at ${server} kept redirecting the command (last reply "${reply}") for ${waited} ms`;
  return `Redis at ${server} kept answering "${reply}" for ${waited} ms`;
}

const REDIRECTIONS = /^Too many Cluster redirections\. Last error: ReplyError: (.*)$/s;

/** The Redis reply an error carries, if it carries one. */
export function replyIn(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'ReplyError') return error.message;
  return REDIRECTIONS.exec(error.message)?.[1];
}
