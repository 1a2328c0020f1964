import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from './clock';
import { Mailbox, PARENT, type FromWorker, type ToWorker } from './ipc';

const WORKER_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'worker.ts');
const REPO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_TIMEOUT_MS = 30_000;

export interface Probe {
  /** The worker's clock minus ours, estimated at the smallest round trip. */
  offsetMs: number;
  rttMs: number;
  /** ioredis commands the worker's process has written so far. */
  commands: number;
}

/** One child process running benchmarks/worker.ts (TypeScript through tsx). */
export class WorkerProcess {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly probes = new Map<number, (reply: { clock: number; commands: number }) => void>();
  readonly exited: Promise<void>;
  private alive = true;

  private constructor(
    child: ChildProcess,
    private readonly onMail: (to: number, topic: string, data: unknown) => void,
  ) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (message: FromWorker) => this.receive(message));
    void this.exited.then(() => {
      this.alive = false;
      for (const { reject } of this.pending.values()) reject(new Error(`worker ${this.pid} exited`));
      this.pending.clear();
    });
  }

  static async spawn(onMail: (to: number, topic: string, data: unknown) => void, options: { exposeGc?: boolean } = {}): Promise<WorkerProcess> {
    const args = [...(options.exposeGc === true ? ['--expose-gc'] : []), '--import', 'tsx', WORKER_FILE];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker = new WorkerProcess(child, onMail);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('worker did not start within 30 s')), START_TIMEOUT_MS);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited during start (code ${code})`));
      });
    });
    return worker;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Runs a task in the worker; rejects after `timeoutMs`. */
  run<R>(task: string, args: unknown, timeoutMs: number): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`task ${task} did not finish within ${timeoutMs} ms in worker ${this.pid}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as R);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send({ kind: 'task', id, task, args });
    });
  }

  mail(to: number, topic: string, data?: unknown): void {
    this.send({ kind: 'mail', to, topic, data });
  }

  /** Clock offset (NTP-style, best of `rounds`) and the process's command count. */
  async probe(rounds = 1): Promise<Probe> {
    let best: Probe | undefined;
    for (let i = 0; i < rounds; i++) {
      const id = this.nextId++;
      const sentAt = now();
      const reply = await new Promise<{ clock: number; commands: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('probe timed out')), 10_000);
        this.probes.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        this.send({ kind: 'probe', id });
      });
      const receivedAt = now();
      const rttMs = receivedAt - sentAt;
      if (best === undefined || rttMs < best.rttMs) {
        best = { offsetMs: reply.clock - (sentAt + receivedAt) / 2, rttMs, commands: reply.commands };
      } else {
        best.commands = reply.commands;
      }
    }
    if (best === undefined) throw new Error('no probe');
    return best;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
  }

  private send(message: ToWorker): void {
    if (this.alive && this.child.connected) this.child.send(message);
  }

  private receive(message: FromWorker): void {
    switch (message.kind) {
      case 'result':
        this.pending.get(message.id)?.resolve(message.result);
        this.pending.delete(message.id);
        break;
      case 'error':
        this.pending.get(message.id)?.reject(new Error(message.message));
        this.pending.delete(message.id);
        break;
      case 'mail':
        this.onMail(message.to, message.topic, message.data);
        break;
      case 'probe':
        this.probes.get(message.id)?.({ clock: message.clock, commands: message.commands });
        this.probes.delete(message.id);
        break;
      case 'ready':
        break;
    }
  }
}

/**
 * Long-lived workers reused by every scenario (spawning a TypeScript process
 * takes about a second), plus single-use ones (a holder to SIGKILL, a clean
 * heap to measure). Mail between logical workers goes through `route`.
 */
export class WorkerPool {
  readonly mailbox = new Mailbox();
  private readonly workers: (WorkerProcess | undefined)[] = [];
  private readonly starting = new Map<number, Promise<WorkerProcess>>();
  private readonly extra = new Set<WorkerProcess>();
  private readonly routes = new Map<number, WorkerProcess>();

  /** Worker `index` of the pool, spawned on first use (and again if it died). */
  async worker(index: number): Promise<WorkerProcess> {
    const existing = this.workers[index];
    if (existing?.isAlive === true) return existing;
    let starting = this.starting.get(index);
    if (starting === undefined) {
      starting = WorkerProcess.spawn(this.forward);
      this.starting.set(index, starting);
    }
    try {
      const worker = await starting;
      this.workers[index] = worker;
      return worker;
    } finally {
      this.starting.delete(index);
    }
  }

  /** Spawns workers 0..count-1 together (each takes about a second to start). */
  async warm(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, i) => this.worker(i)));
  }

  async spawnFresh(options: { exposeGc?: boolean } = {}): Promise<WorkerProcess> {
    const worker = await WorkerProcess.spawn(this.forward, options);
    this.extra.add(worker);
    void worker.exited.then(() => this.extra.delete(worker));
    return worker;
  }

  /** The pool's live workers. */
  alive(): WorkerProcess[] {
    return this.workers.filter((w): w is WorkerProcess => w?.isAlive === true);
  }

  /** Logical worker `id` lives in `worker` (until the next reset). */
  assign(id: number, worker: WorkerProcess): void {
    this.routes.set(id, worker);
  }

  /** Forgets routes and undelivered mail between runs. */
  reset(): void {
    this.routes.clear();
    this.mailbox.clear();
  }

  /** Kills every worker (after a failed run, so that nothing stale lingers). */
  async restart(): Promise<void> {
    const all = [...this.workers, ...this.extra].filter((w): w is WorkerProcess => w !== undefined);
    this.workers.length = 0;
    await Promise.all(all.map((w) => w.stop()));
    this.reset();
  }

  close(): Promise<void> {
    return this.restart();
  }

  private readonly forward = (to: number, topic: string, data: unknown): void => {
    if (to === PARENT) this.mailbox.deliver(to, topic, data);
    else this.routes.get(to)?.mail(to, topic, data);
  };
}
