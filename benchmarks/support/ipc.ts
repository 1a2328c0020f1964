/**
 * Messages between the orchestrator and its worker processes (Node's IPC
 * channel). Scenario code talks in "mail": a topic addressed to a logical
 * worker id, or to the orchestrator (PARENT); the orchestrator forwards mail
 * to whichever process hosts the addressee.
 */
export const PARENT = -1;

export type ToWorker =
  | { kind: 'task'; id: number; task: string; args: unknown }
  | { kind: 'mail'; to: number; topic: string; data?: unknown }
  | { kind: 'probe'; id: number };

export type FromWorker =
  | { kind: 'ready'; pid: number }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'mail'; to: number; topic: string; data?: unknown }
  | { kind: 'probe'; id: number; clock: number; commands: number };

interface Slot {
  readonly queue: unknown[];
  readonly waiting: ((data: unknown) => void)[];
}

/** Mail that may arrive before or after someone waits for it, delivered in order. */
export class Mailbox {
  private readonly slots = new Map<string, Slot>();

  deliver(to: number, topic: string, data: unknown): void {
    const slot = this.slot(to, topic);
    const waiter = slot.waiting.shift();
    if (waiter !== undefined) waiter(data);
    else slot.queue.push(data);
  }

  /** The next mail for (to, topic); rejects after `timeoutMs` so that no run can hang. */
  receive<T = unknown>(to: number, topic: string, timeoutMs = 60_000): Promise<T> {
    const slot = this.slot(to, topic);
    if (slot.queue.length > 0) return Promise.resolve(slot.queue.shift() as T);
    return new Promise<T>((resolve, reject) => {
      const waiter = (data: unknown): void => {
        clearTimeout(timer);
        resolve(data as T);
      };
      const timer = setTimeout(() => {
        const index = slot.waiting.indexOf(waiter);
        if (index >= 0) slot.waiting.splice(index, 1);
        reject(new Error(`no '${topic}' mail for ${to === PARENT ? 'the orchestrator' : `worker ${to}`} within ${timeoutMs} ms`));
      }, timeoutMs);
      slot.waiting.push(waiter);
    });
  }

  clear(): void {
    this.slots.clear();
  }

  private slot(to: number, topic: string): Slot {
    const key = `${to}\u0000${topic}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { queue: [], waiting: [] };
      this.slots.set(key, slot);
    }
    return slot;
  }
}
