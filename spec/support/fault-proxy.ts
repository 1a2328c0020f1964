/**
 * A TCP proxy in front of a Redis server that injects faults into the
 * connections made through it: replies delayed, held back, dropped, the
 * connection cut, or everything frozen in both directions.
 *
 * A minimal stand-in with the API agreed for spec/support/fault-proxy.ts
 * (written in full on the `regress` branch); replace this file with that one
 * once it is committed there.
 *
 * - `delayReplies(ms)`: every reply chunk is written `ms` later (order kept); 0 ends it.
 * - `holdReplies()` / `releaseReplies()`: replies are kept back until released.
 * - `dropReplies(n)`: the next n complete RESP replies are discarded. The
 *   client then matches later replies to the wrong commands, as no real
 *   network would do: follow it with `cut()` to model replies lost with the
 *   connection.
 * - `cut()`: both sockets are destroyed.
 * - `freeze()` / `thaw()`: nothing is forwarded in either direction until
 *   thawed; then what was kept back is delivered.
 * Proxy-wide calls apply to every live connection and to those made later.
 */
import net from 'node:net';

export interface ProxiedConnection {
  readonly id: number;
  delayReplies(ms: number): void;
  holdReplies(): void;
  releaseReplies(): void;
  dropReplies(count: number): void;
  cut(): void;
}

export interface FaultProxy {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  connections(): ProxiedConnection[];
  delayReplies(ms: number): void;
  holdReplies(): void;
  releaseReplies(): void;
  dropReplies(count: number): void;
  cutAll(): void;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

/**
 * The length of the first complete RESP2/RESP3 reply in `buffer` from
 * `offset`, or -1 when it is not complete yet.
 */
export function replyLength(buffer: Buffer, offset = 0): number {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0 || lineEnd === offset) return -1;
  const type = String.fromCharCode(buffer[offset] as number);
  const header = buffer.toString('latin1', offset + 1, lineEnd);
  const afterHeader = lineEnd + 2 - offset;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return afterHeader;
    case '$':
    case '!':
    case '=': {
      const size = Number(header);
      if (size < 0) return afterHeader;
      return buffer.length - offset >= afterHeader + size + 2 ? afterHeader + size + 2 : -1;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const count = Number(header);
      if (count < 0) return afterHeader;
      const elements = type === '%' || type === '|' ? count * 2 : count;
      let length = afterHeader;
      for (let i = 0; i < elements; i++) {
        const element = replyLength(buffer, offset + length);
        if (element < 0) return -1;
        length += element;
      }
      return length;
    }
    default:
      throw new Error(`fault proxy: not a RESP reply (type byte ${JSON.stringify(type)})`);
  }
}

interface ProxyWide {
  delayMs: number;
  holding: boolean;
  frozen: boolean;
  drop: number;
}

class Connection implements ProxiedConnection {
  private delayMs: number;
  private holding: boolean;
  private frozen: boolean;
  private drop: number;
  /** Bytes of a reply not yet complete. */
  private partial: Buffer = Buffer.alloc(0);
  /** Replies kept back by holdReplies or freeze, in order. */
  private heldReplies: Buffer[] = [];
  /** Requests kept back by freeze, in order. */
  private heldRequests: Buffer[] = [];
  /** When the last delayed write is due (performance.now()), to keep order. */
  private lastDue = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly id: number,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    wide: ProxyWide,
    private readonly onClose: (connection: Connection) => void,
  ) {
    this.delayMs = wide.delayMs;
    this.holding = wide.holding;
    this.frozen = wide.frozen;
    this.drop = wide.drop;
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.cut());
      socket.on('close', () => this.cut());
    }
    client.on('data', (chunk: Buffer) => {
      if (this.frozen) this.heldRequests.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => this.reply(chunk));
  }

  delayReplies(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  holdReplies(): void {
    this.holding = true;
  }

  releaseReplies(): void {
    this.holding = false;
    this.flushReplies();
  }

  dropReplies(count: number): void {
    this.drop = Math.max(0, count);
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const chunk of this.heldRequests.splice(0)) this.upstream.write(chunk);
    this.flushReplies();
  }

  cut(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.heldReplies = [];
    this.heldRequests = [];
    this.client.destroy();
    this.upstream.destroy();
    this.onClose(this);
  }

  /** Splits the reply stream into whole replies (so that a drop always starts at one) and passes them on. */
  private reply(chunk: Buffer): void {
    let buffer = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    const passed: Buffer[] = [];
    for (;;) {
      let length: number;
      try {
        length = replyLength(buffer);
      } catch {
        this.cut(); // not Redis talking: nothing sensible to do but hang up
        return;
      }
      if (length < 0) break;
      if (this.drop > 0) this.drop -= 1;
      else passed.push(buffer.subarray(0, length));
      buffer = buffer.subarray(length);
    }
    this.partial = Buffer.from(buffer);
    if (passed.length === 0) return;
    const replies = passed.length === 1 ? (passed[0] as Buffer) : Buffer.concat(passed);
    if (this.frozen || this.holding) this.heldReplies.push(replies);
    else this.deliver(replies);
  }

  private flushReplies(): void {
    if (this.frozen || this.holding) return;
    for (const chunk of this.heldReplies.splice(0)) this.deliver(chunk);
  }

  /** Writes a reply now, or after the delay, never before one written earlier. */
  private deliver(chunk: Buffer): void {
    const now = performance.now();
    const due = Math.max(now + this.delayMs, this.lastDue);
    if (due <= now) {
      this.client.write(chunk);
      return;
    }
    this.lastDue = due;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) this.client.write(chunk);
    }, due - now);
    this.timers.add(timer);
  }
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const live = new Set<Connection>();
  const wide: ProxyWide = { delayMs: 0, holding: false, frozen: false, drop: 0 };
  let nextId = 0;
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    nextId += 1;
    live.add(new Connection(nextId, client, upstream, wide, (closed) => live.delete(closed)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  const each = (act: (connection: Connection) => void): void => {
    for (const connection of [...live]) act(connection);
  };
  return {
    url: `redis://127.0.0.1:${port}/0`,
    host: '127.0.0.1',
    port,
    connections: () => [...live],
    delayReplies: (ms) => {
      wide.delayMs = Math.max(0, ms);
      each((c) => c.delayReplies(ms));
    },
    holdReplies: () => {
      wide.holding = true;
      each((c) => c.holdReplies());
    },
    releaseReplies: () => {
      wide.holding = false;
      each((c) => c.releaseReplies());
    },
    dropReplies: (count) => {
      wide.drop = Math.max(0, count);
      each((c) => c.dropReplies(count));
    },
    cutAll: () => each((c) => c.cut()),
    freeze: () => {
      wide.frozen = true;
      each((c) => c.freeze());
    },
    thaw: () => {
      wide.frozen = false;
      each((c) => c.thaw());
    },
    close: () =>
      new Promise<void>((resolve) => {
        each((c) => c.cut());
        server.close(() => resolve());
      }),
  };
}
