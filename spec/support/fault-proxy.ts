/**
 * A TCP proxy between a client (yadl, ioredis) and a real redis-server that
 * misbehaves on command: it can delay, hold back, swallow or cut the replies
 * of one connection or of all, and partition the whole proxy (freeze).
 * Requests always go through unchanged (except while frozen), so Redis runs
 * every command it is sent: what the client misses is only the answer, which
 * is what a slow or lossy network does to it.
 *
 * Replies are cut at RESP reply boundaries (RESP2 and RESP3; pub/sub pushes
 * are replies too) so that `dropReplies` swallows whole replies. The proxy
 * therefore forwards a reply once all of it has arrived: a reply split over
 * several TCP segments is forwarded in one piece.
 *
 * Note on ioredis: it pairs replies with commands by position. A command
 * whose reply was swallowed stays at the head of its queue even after
 * `commandTimeout` rejected it, so on that connection every later reply goes
 * to the command before its own. A swallowed pub/sub message does not shift
 * anything.
 */
import net from 'node:net';

export interface ProxiedConnection {
  /** Accept order, from 1. */
  readonly id: number;
  /** Each reply is delivered `ms` after it came from Redis, order kept; 0 ends it (replies already delayed keep their time). */
  delayReplies(ms: number): void;
  /** Replies are held back until releaseReplies(). */
  holdReplies(): void;
  /** Delivers what was held, in order (a delayed reply still waits for its time). */
  releaseReplies(): void;
  /** The next `count` whole replies that come from Redis are swallowed; 0 cancels what is left of it. */
  dropReplies(count: number): void;
  /** Destroys both sockets now. */
  cut(): void;
}

export interface FaultProxy {
  /** redis://127.0.0.1:<port>/0 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Live connections, in accept order. */
  connections(): ProxiedConnection[];
  /**
   * These four apply to every live connection and to connections accepted
   * later, until changed (a later connection swallows its own first `count`
   * replies; `dropReplies(0)` stops that).
   */
  delayReplies(ms: number): void;
  holdReplies(): void;
  releaseReplies(): void;
  dropReplies(count: number): void;
  /** Cuts every live connection. */
  cutAll(): void;
  /** Whole-proxy partition: nothing is forwarded in either direction until thaw(), which delivers what was held, in order. */
  freeze(): void;
  thaw(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

interface Faults {
  delayMs: number;
  held: boolean;
  drop: number;
}

interface Pending {
  readonly data: Buffer;
  readonly dueAt: number;
}

class Connection implements ProxiedConnection {
  private readonly faults: Faults;
  /** Replies on their way to the client, oldest first. */
  private readonly replies: Pending[] = [];
  /** Requests that came while the proxy was frozen. */
  private readonly requests: Buffer[] = [];
  /** The start of a reply whose end has not come yet. */
  private partial: Buffer = Buffer.alloc(0);
  /** Set when the stream from Redis did not parse as RESP: it is then passed on as it comes. */
  private unparsed = false;
  private timer: NodeJS.Timeout | undefined;
  private upstreamEnded = false;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    defaults: Faults,
    private readonly frozen: () => boolean,
    private readonly gone: (connection: Connection) => void,
  ) {
    this.faults = { ...defaults };
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
    }
    client.on('data', (chunk: Buffer) => {
      if (this.frozen()) this.requests.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => this.fromRedis(chunk));
    client.on('close', () => this.cut());
    // Redis closing (QUIT, a killed client) must not overtake replies still held or delayed here.
    upstream.on('close', () => {
      this.upstreamEnded = true;
      this.pump();
    });
  }

  delayReplies(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`delay must be >= 0 ms, got ${ms}`);
    this.faults.delayMs = ms;
  }

  holdReplies(): void {
    this.faults.held = true;
  }

  releaseReplies(): void {
    this.faults.held = false;
    this.pump();
  }

  dropReplies(count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number >= 0, got ${count}`);
    this.faults.drop = count;
  }

  cut(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.replies.length = 0;
    this.requests.length = 0;
    this.client.destroy();
    this.upstream.destroy();
    this.gone(this);
  }

  /** The proxy thawed: requests held back go first, then replies that are due. */
  thawed(): void {
    for (const chunk of this.requests.splice(0)) this.upstream.write(chunk);
    this.pump();
  }

  private fromRedis(chunk: Buffer): void {
    if (this.closed) return;
    let data: Buffer;
    if (this.unparsed) {
      data = chunk;
    } else {
      const buffer = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk]);
      let split: { replies: Buffer[]; rest: Buffer };
      try {
        split = splitReplies(buffer);
      } catch {
        // Not RESP after all (never seen from Redis): forwarding it beats stalling the client.
        this.unparsed = true;
        split = { replies: [buffer], rest: Buffer.alloc(0) };
      }
      this.partial = split.rest;
      const kept = split.replies.filter(() => {
        if (this.faults.drop === 0 || this.unparsed) return true;
        this.faults.drop -= 1;
        return false;
      });
      data = kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept);
    }
    if (data.length === 0) return;
    this.replies.push({ data, dueAt: performance.now() + this.faults.delayMs });
    this.pump();
  }

  /** Writes every reply that is due, in order, unless held or frozen; waits for the next one's time. */
  private pump(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.replies.length > 0) {
      if (this.faults.held || this.frozen()) return;
      const head = this.replies[0] as Pending;
      const wait = head.dueAt - performance.now();
      if (wait > 0) {
        // Unref'd: a reply on its way must not count as a timer yadl left behind.
        this.timer = setTimeout(() => this.pump(), Math.ceil(wait)).unref();
        return;
      }
      this.replies.shift();
      this.client.write(head.data);
    }
    // The client's own close then cuts the connection; destroying it here could lose the last write.
    if (this.upstreamEnded) this.client.end();
  }
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const live = new Map<number, Connection>();
  const defaults: Faults = { delayMs: 0, held: false, drop: 0 };
  let frozen = false;
  let accepted = 0;
  const isFrozen = (): boolean => frozen;
  const each = (act: (c: Connection) => void): void => {
    for (const c of [...live.values()]) act(c);
  };

  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(target.port, target.host);
    const connection = new Connection(accepted, client, upstream, defaults, isFrozen, (c) => live.delete(c.id));
    live.set(connection.id, connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `redis://${HOST}:${port}/0`,
    host: HOST,
    port,
    connections: () => [...live.values()],
    delayReplies: (ms) => {
      if (!(ms >= 0)) throw new RangeError(`delay must be >= 0 ms, got ${ms}`);
      defaults.delayMs = ms;
      each((c) => c.delayReplies(ms));
    },
    holdReplies: () => {
      defaults.held = true;
      each((c) => c.holdReplies());
    },
    releaseReplies: () => {
      defaults.held = false;
      each((c) => c.releaseReplies());
    },
    dropReplies: (count) => {
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number >= 0, got ${count}`);
      defaults.drop = count;
      each((c) => c.dropReplies(count));
    },
    cutAll: () => each((c) => c.cut()),
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      each((c) => c.thawed());
    },
    close: () =>
      new Promise<void>((resolve) => {
        each((c) => c.cut());
        server.close(() => resolve());
      }),
  };
}

/**
 * The whole RESP replies at the start of `buffer`, and the rest (the start
 * of a reply not complete yet). Throws on bytes that are not RESP.
 */
export function splitReplies(buffer: Buffer): { replies: Buffer[]; rest: Buffer } {
  const replies: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = valueEnd(buffer, at);
    if (end < 0) break;
    replies.push(buffer.subarray(at, end));
    at = end;
  }
  return { replies, rest: buffer.subarray(at) };
}

/** Index just past the RESP value starting at `at`, or -1 when it has not all arrived. */
function valueEnd(buffer: Buffer, at: number): number {
  if (at >= buffer.length) return -1;
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return -1;
  const type = String.fromCharCode(buffer[at] as number);
  const after = lineEnd + 2;
  switch (type) {
    case '+': // simple string
    case '-': // error
    case ':': // integer
    case '_': // RESP3 null
    case ',': // double
    case '#': // boolean
    case '(': // big number
      return after;
    case '$': // bulk string
    case '!': // bulk error
    case '=': {
      // verbatim string
      const length = header(buffer, at, lineEnd);
      if (length < 0) return after;
      const end = after + length + 2;
      return end <= buffer.length ? end : -1;
    }
    case '*': // array
    case '~': // set
    case '>': // push (pub/sub messages in RESP3)
    case '%': // map
    case '|': {
      // attribute: annotates the value that follows it, so the two are one reply
      const count = header(buffer, at, lineEnd);
      if (count < 0) return after;
      const elements = type === '%' || type === '|' ? 2 * count : count;
      let end = after;
      for (let i = 0; i < elements; i++) {
        end = valueEnd(buffer, end);
        if (end < 0) return -1;
      }
      return type === '|' ? valueEnd(buffer, end) : end;
    }
    default:
      throw new Error(`not a RESP reply: byte 0x${(buffer[at] as number).toString(16)} at ${at}`);
  }
}

function header(buffer: Buffer, at: number, lineEnd: number): number {
  const text = buffer.toString('latin1', at + 1, lineEnd);
  const value = Number(text);
  if (text === '' || !Number.isInteger(value)) throw new Error(`not a RESP length: '${text}'`);
  return value;
}
