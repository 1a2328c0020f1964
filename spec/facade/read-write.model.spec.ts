/**
 * Model-based test of the read/write locks (fast-check `fc.commands`):
 * random sequences of acquire (one attempt / a 20 ms timeout), release,
 * force release and expiry, over 2 to 6 instances of random kinds
 * (RedisReadLock, RedisWriteLock, RedisLock, RedisRLock; some with a 150 ms
 * ttl) on one name, run against Redis and the model of read-write-model.ts in
 * lockstep. After every command the answer (true/false, resolved, rejected
 * NotOwnerError) equals the model's, and the state Redis holds (read with
 * the server's clock) has at most one writer, never a writer with a reader,
 * no leftover writer mark, and exactly the holds the model predicts,
 * matched by fence.
 *
 * The model (RwModel) follows what each instance believes it holds: a
 * RedisRLock re-enters locally; a second acquire by any other holding
 * instance waits for that instance's own release, like threading.Lock (so
 * it answers false here); a writer kind's force release
 * empties Redis, and the instances that held keep believing they do
 * ("ghosts": a RedisRLock re-enters one, release() of one rejects
 * NotOwnerError) until their renewal or ttl says otherwise.
 *
 * Time: a ttl'd hold ends within a window (see RwModel.expiryWindow). A
 * command never starts near such a window: it first waits the window out
 * and drops the hold. If a slow command overlaps one anyway, its answer must
 * match the model with the hold either still there or already gone.
 *
 * Replay a failure: FC_SEED=<seed> FC_PATH=<path> (printed on failure);
 * FC_NUM_RUNS=<n> for a longer run.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotOwnerError } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import {
  LOCK_KINDS,
  RwModel,
  fcParameters,
  makeLock,
  readLiveState,
  sleep,
  stateGone,
  worlds,
  type AnyLock,
  type InstanceSpec,
  type Outcome,
} from './read-write-model';

const TTL = 150;
/** A command (and the check after it) takes well under this; holds ending sooner are waited out first. */
const GUARD_MS = 40;
const NAME = 'rw-model';

const redis = useRedis();
/** Commands run, over all runs. */
let executed = 0;
let timers = 0;
beforeEach(() => {
  timers = activeTimers();
});
afterEach(async () => {
  await expectQuiescent(timers);
});

interface Real {
  readonly locks: readonly AnyLock[];
  readonly admin: Redis;
  readonly prefix: string;
}

type ModelCommand = fc.AsyncCommand<RwModel, Real>;

const settle = (p: Promise<boolean | void>): Promise<Outcome> =>
  p.then(
    (value) => (typeof value === 'boolean' ? { settled: 'resolved', value } : { settled: 'resolved' }),
    (error: unknown) =>
      error instanceof NotOwnerError
        ? { settled: 'rejected', error: error.name, heldByOther: error.heldByOther }
        : { settled: 'rejected', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) },
  );

/** Lets due facade timers run, then waits out and drops every ttl'd hold ending before `now + withinMs`. */
async function waitOutExpiries(model: RwModel, withinMs: number): Promise<void> {
  await sleep(1);
  const ending = model.mayEndBy(performance.now() + withinMs);
  if (ending.length === 0) return;
  await sleep(model.endOf(ending) - performance.now());
  for (const i of ending) model.holds.delete(i);
}

/** Redis and the instances hold exactly what the model says; the invariant holds. */
async function checkState(model: RwModel, real: Real): Promise<void> {
  let observed;
  do {
    await waitOutExpiries(model, GUARD_MS);
    const state = await readLiveState(real.admin, real.prefix, NAME);
    const fences = real.locks.map((lock) => lock.fence);
    const locked = await real.locks[0]?.locked();
    observed = { state, fences, locked };
  } while (model.mayEndBy(performance.now()).length > 0); // a slow read straddled an expiry: read again
  const { state, fences, locked } = observed;
  const context = JSON.stringify({ raw: state.raw, fences, model: [...model.holds] });
  const byNumber = (a: number | undefined, b: number | undefined): number => (a ?? 0) - (b ?? 0);
  expect(state.writer === undefined || state.readers.length === 0, `writer with readers: ${context}`).toBe(true);
  expect(state.marks, `a writer's mark left behind: ${context}`).toEqual([]);
  expect(
    fences.map((fence) => fence !== undefined),
    `instances that believe they hold: ${context}`,
  ).toEqual(real.locks.map((_, i) => model.holds.has(i)));
  const live = model.live();
  expect(state.writer?.fence, `writer: ${context}`).toEqual(live.filter((i) => model.writes(i)).map((i) => fences[i])[0]);
  expect(state.readers.map((r) => r.fence).sort(byNumber), `readers: ${context}`).toEqual(
    live
      .filter((i) => !model.writes(i))
      .map((i) => fences[i])
      .sort(byNumber),
  );
  expect(locked, `locked(): ${context}`).toBe(model.held());
}

/** Runs one facade call against Redis and the model; accepts the answer of any world a slow call straddled. */
async function step(model: RwModel, real: Real, apply: (world: RwModel, from: number, to: number) => Outcome, call: () => Promise<Outcome>): Promise<void> {
  executed += 1;
  await waitOutExpiries(model, GUARD_MS);
  const from = performance.now();
  const outcome = await call();
  await sleep(1);
  const to = performance.now();
  const uncertain = model.mayEndBy(to);
  const candidates = worlds(model, uncertain).filter((world) => {
    const expected = apply(world, from, to);
    return JSON.stringify(expected) === JSON.stringify(outcome);
  });
  const expected = apply(model.clone(), from, to);
  expect(candidates.length, `answer ${JSON.stringify(outcome)}, model ${JSON.stringify(expected)}`).toBeGreaterThan(0);
  if (uncertain.length > 0) await sleep(model.endOf(uncertain) - performance.now());
  const chosen = candidates
    .map((world) => {
      // Holds the command kept (not the ones it took just now) have ended meanwhile.
      for (const i of uncertain) if (world.holds.get(i)?.from === model.holds.get(i)?.from) world.holds.delete(i);
      return world;
    })
    .find((world) => real.locks.every((lock, i) => (lock.fence !== undefined) === world.holds.has(i)));
  model.holds = (chosen ?? candidates[0] ?? model).holds;
  await checkState(model, real);
}

class Acquire implements ModelCommand {
  constructor(
    readonly i: number,
    readonly blocking: boolean,
  ) {}
  check = (m: Readonly<RwModel>): boolean => this.i < m.specs.length;
  run = (m: RwModel, r: Real): Promise<void> =>
    step(
      m,
      r,
      (world, from, to) => world.acquire(this.i, from, to),
      () => settle((r.locks[this.i] as AnyLock).acquire(this.blocking ? { timeout: 20 } : { blocking: false })),
    );
  toString = (): string => `#${this.i}.acquire(${this.blocking ? '{ timeout: 20 }' : '{ blocking: false }'})`;
}

class Release implements ModelCommand {
  constructor(
    readonly i: number,
    readonly force: boolean,
  ) {}
  check = (m: Readonly<RwModel>): boolean => this.i < m.specs.length;
  run = (m: RwModel, r: Real): Promise<void> =>
    step(
      m,
      r,
      (world) => world.release(this.i, this.force),
      () => settle((r.locks[this.i] as AnyLock).release(this.force ? { force: true } : undefined)),
    );
  toString = (): string => `#${this.i}.release(${this.force ? '{ force: true }' : ''})`;
}

/** Waits until every ttl'd hold has ended. */
class Expire implements ModelCommand {
  check = (): boolean => true;
  run = async (m: RwModel, r: Real): Promise<void> => {
    executed += 1;
    await waitOutExpiries(m, TTL + GUARD_MS);
    await checkState(m, r);
  };
  toString = (): string => 'expire';
}

const instanceSpec = fc.record({ kind: fc.constantFrom(...LOCK_KINDS), ttl: fc.constantFrom(0, TTL) });

/** 2 to 6 instances, then up to 15 commands on them. */
const scenario = fc.array(instanceSpec, { minLength: 2, maxLength: 6 }).chain((specs) => {
  const index = fc.nat({ max: specs.length - 1 });
  const commands = fc.commands<RwModel, Real, false>(
    [
      fc.tuple(index, fc.boolean()).map(([i, blocking]) => new Acquire(i, blocking)),
      fc.tuple(index, fc.boolean()).map(([i, blocking]) => new Acquire(i, blocking)),
      fc.tuple(index, fc.boolean()).map(([i, force]) => new Release(i, force)),
      fc.constant(new Expire()),
    ],
    { maxCommands: 15, size: 'max' },
  );
  return fc.tuple(fc.constant(specs), commands);
});

/** Releases whatever each instance still holds (ghosts included) and closes its subscription. */
async function releaseAll(locks: readonly AnyLock[]): Promise<void> {
  await Promise.all(locks.map((lock) => lock[Symbol.asyncDispose]()));
}

describe('read/write locks against an in-memory model', () => {
  it('answer like the model after every command, with at most one writer and never a writer with readers', async () => {
    const admin = redis.client();
    let runs = 0;
    executed = 0;
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(scenario, async ([specs, cmds]: [InstanceSpec[], Iterable<ModelCommand>]) => {
        runs += 1;
        const prefix = redis.prefix();
        const client = redis.client();
        await client.ping(); // connected before the first 20 ms timeout starts counting
        const locks = specs.map(({ kind, ttl }) => makeLock(kind, NAME, { prefix, redis: client, ...(ttl > 0 ? { ttl } : {}) }));
        try {
          await fc.asyncModelRun(() => ({ model: new RwModel(specs), real: { locks, admin, prefix } }), cmds);
        } finally {
          await releaseAll(locks);
        }
        expect(await stateGone(admin, prefix, NAME), 'state left after everyone released').toEqual({});
      }),
      fcParameters(25),
    );
    console.log(`read/write model: ${runs} runs, ${executed} commands, ${Math.round(performance.now() - started)} ms`);
  }, 180_000);
});
