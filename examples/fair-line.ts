/**
 * Part 4: a fair line, as an operator sees it. Three services queue for one
 * lock with `fair: true` and a `label` each; the release hands the lock to
 * the head of the line directly, in arrival order. `query` shows who holds
 * and how many wait, and the `yadl:acquire` tracing channel reports each
 * grant with how long it waited (what `yadl/otel` turns into metrics).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Subscription } from 'rxjs';
import { ACQUIRE_CHANNEL, lock$, query, type AcquireMessage, type LockOptions } from '../src/index';
import { heading, note, row, since } from './output';

const SERVICES = ['reporting', 'billing', 'audit'];
const WORK = 40;

export async function fairLine(url: string, prefix: string): Promise<void> {
  heading(
    '4. A fair line (lock$ with fair: true), traced',
    `'nightly-close' holds 'ledger'; ${SERVICES.join(', ')} then queue for it in that order, each labelled.`,
    'The release hands the lock to the head of the line; query() shows holder and line; a tracing channel reports grants.',
  );
  const options = { redis: url, prefix };
  const acquire = tracingChannel<unknown, AcquireMessage>(ACQUIRE_CHANNEL);
  const ignore = (): void => undefined;
  const traced = {
    start: ignore,
    end: ignore,
    asyncStart: ignore,
    error: ignore,
    asyncEnd: (message: AcquireMessage) => {
      if (message.name === 'ledger' && message.fence !== undefined) {
        row(since(), 'trace', `yadl:acquire granted (fair: ${String(message.fair)}) after waiting ${Math.round(message.waitMs ?? 0)} ms`);
      }
    },
  };
  acquire.subscribe(traced);
  try {
    const holding = await hold('closing', { ...options, label: 'nightly-close' });

    const served: string[] = [];
    const waiters = SERVICES.map(async (service, i) => {
      await sleep(15 * i); // arrive one after the other
      row(since(), service, 'queues (fair)');
      const lease = await hold(service, { ...options, fair: true, label: service });
      served.push(service);
      await sleep(WORK);
      lease.unsubscribe();
    });
    await sleep(15 * SERVICES.length + 50);

    for (const hold of await query({ redis: url, prefix, match: 'ledger', kind: 'lock' })) {
      row(since(), 'query()', `'${hold.name}' held by ${hold.label ?? '?'} (${hold.mode}), ${hold.waiting ?? 0} waiting in line`);
    }
    row(since(), 'closing', 'releases');
    holding.unsubscribe();
    await Promise.all(waiters);
    note(`served in arrival order: ${served.join(', ')}; each release granted the lock to the head of the line itself.`);
  } finally {
    acquire.unsubscribe(traced);
  }
}

/** Subscribes to lock$ and resolves once it holds; unsubscribing the subscription releases. */
function hold(who: string, options: LockOptions): Promise<Subscription> {
  return new Promise((resolve, reject) => {
    const subscription: Subscription = lock$('ledger', options).subscribe({
      next: (lease) => {
        row(since(), who, `acquired  fence ${lease.fence}`);
        resolve(subscription);
      },
      error: reject,
    });
  });
}
