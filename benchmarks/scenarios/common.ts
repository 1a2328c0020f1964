import { createAdapter, type ContenderSpec, type LockAdapter } from '../contenders';
import { PARENT } from '../support/ipc';
import type { WorkerProcess } from '../support/pool';
import type { ScenarioContext } from './types';

/** What every task needs to build its contender's adapter. */
export interface AdapterArgs {
  readonly contender: string;
  readonly url: string;
  readonly prefix: string;
  readonly leaseMs?: number;
  /** Seed nodes of a Redis Cluster to use instead of `url` (scenario 8). */
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  /** yadl fair mode's handoffGrace (scenario 9). */
  readonly handoffGraceMs?: number;
}

export function adapterArgs(context: ScenarioContext, contender: ContenderSpec, rep: number, leaseMs?: number): AdapterArgs {
  return { contender: contender.id, url: context.url, prefix: context.namespace(contender, rep), ...(leaseMs === undefined ? {} : { leaseMs }) };
}

/** The name of a process's connections for `contender`, as CLIENT LIST shows it. */
export function connectionName(contender: string, pid = process.pid): string {
  return `bench-${contender}-${pid}`;
}

export function openAdapter(args: AdapterArgs): Promise<LockAdapter> {
  return createAdapter(args.contender, {
    url: args.url,
    prefix: args.prefix,
    connectionName: connectionName(args.contender),
    ...(args.leaseMs === undefined ? {} : { leaseMs: args.leaseMs }),
    ...(args.cluster === undefined ? {} : { cluster: args.cluster }),
    ...(args.handoffGraceMs === undefined ? {} : { handoffGraceMs: args.handoffGraceMs }),
  });
}

/** Opens connections and loads scripts outside of what is measured. */
export async function warmUp(adapter: LockAdapter, name = 'warm-up', rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await (await adapter.acquire(name)).release();
}

/** Logical workers of one run: fresh ids (stale mail of earlier runs never reaches them) and their processes. */
export interface Placement {
  readonly ids: readonly number[];
  readonly workers: readonly WorkerProcess[];
  /** The distinct processes. */
  readonly processes: readonly WorkerProcess[];
}

let nextLogicalId = 1;

/** A logical worker id no earlier run used. */
export function freshId(): number {
  return nextLogicalId++;
}

/**
 * Puts `count` logical workers in processes: `home(index)` is the pool index
 * for a network contender; an in-process contender (async-mutex) has them all
 * in worker 0.
 */
export async function place(
  context: ScenarioContext,
  contender: ContenderSpec,
  count: number,
  home: (index: number) => number,
): Promise<Placement> {
  const ids: number[] = [];
  const workers: WorkerProcess[] = [];
  for (let index = 0; index < count; index++) {
    const worker = await context.pool.worker(contender.inProcess ? 0 : home(index));
    const id = freshId();
    context.pool.assign(id, worker);
    ids.push(id);
    workers.push(worker);
  }
  return { ids, workers, processes: [...new Set(workers)] };
}

/** Generous bound for a task that should take `ms`: a run must end, never hang. */
export function deadline(ms: number): number {
  return ms + 60_000;
}

/**
 * Waits for `count` mails on `topic` to the orchestrator, failing as soon as
 * one of the tasks `runs` fails (instead of waiting out the mail timeout).
 */
export async function mailFrom(
  context: ScenarioContext,
  topic: string,
  count: number,
  runs: readonly Promise<unknown>[],
): Promise<unknown[]> {
  const mails = Promise.all(Array.from({ length: count }, () => context.pool.mailbox.receive(PARENT, topic)));
  const failed = Promise.all(runs).then(() => {
    throw new Error(`the tasks ended before sending ${count} '${topic}' mails`);
  });
  failed.catch(() => undefined);
  return Promise.race([mails, failed]);
}

export async function commandsSentBy(workers: readonly WorkerProcess[]): Promise<number> {
  const probes = await Promise.all(workers.map((w) => w.probe()));
  return probes.reduce((sum, p) => sum + p.commands, 0);
}
