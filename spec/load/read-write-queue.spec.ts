/**
 * Found by the soak (long idle gaps on contended names): a process's wait
 * queue whose head is a reader, blocked only by the writer-preference mark of
 * a writer queued BEHIND it in the same queue, stalls. Only the head attempts
 * on a wake-up, the reader is refused because of the mark, and the writer
 * never gets its turn: nobody acquires the free lock until the mark expires
 * (the blocking readers' remaining lease + the writer's lease; 30 s+ with
 * the default lease).
 *
 * Two connections (a client and a URL) stand for two processes: each has
 * its own subscriber and wait queue.
 */
import { describe, expect, it } from 'vitest';
import { lock$, type LockMode } from '../../src/index';
import { eventually, sleep, stateKey, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();

describe('read/write wait queues', () => {
  it('a reader at the head of a queue, blocked by the mark of a writer behind it, does not stall the free lock', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const otherProcess = kit.client(server.url);
    const key = stateKey('rw', 'x');
    const take = (redis: typeof otherProcess | string, mode: LockMode): ReturnType<typeof kit.hold> =>
      kit.hold(lock$('x', { redis, prefix: 'rw', mode, lease: 5_000, timeout: 4_000 }));
    const marks = async (): Promise<number> => Object.keys(await admin.hgetall(key)).filter((f) => f.startsWith('q:')).length;

    const reader1 = take(otherProcess, 'read'); // "process" T holds a read lock
    await within(reader1.acquired, 5_000, 'the first reader');
    const writerT = take(otherProcess, 'write'); // T's writer waits and marks: new readers queue behind it
    await eventually(async () => (await marks()) === 1, 2_000, "T's writer marked");
    const reader2 = take(server.url, 'read'); // "process" S: a reader, refused because of T's mark, heads S's queue
    await sleep(200);
    const writer1 = take(server.url, 'write'); // S's writer, refused by reader 1, marks and queues behind reader 2
    await eventually(async () => (await marks()) === 2, 2_000, "S's writer marked");
    expect(reader2.leases.length + writer1.leases.length).toBe(0);

    writerT.unsubscribe(); // T's writer gives up: its mark is withdrawn
    await sleep(100);
    const freedAt = performance.now();
    reader1.unsubscribe(); // the lock has no holder now, only S's writer's mark
    const first = await within(
      Promise.race([reader2.acquired.then(() => 'reader 2'), writer1.acquired.then(() => 'writer 1')]).catch(
        (error: unknown) => `nobody (${String(error)})`,
      ),
      6_000,
      'someone acquiring',
    );
    const after = performance.now() - freedAt;
    console.log(`[rw queue] after the lock was freed, ${first} acquired after ${after.toFixed(0)} ms`);
    expect(first).toMatch(/^(reader 2|writer 1)$/);
    expect(after).toBeLessThan(1_000);
  });
});
