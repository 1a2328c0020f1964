import { channel, tracingChannel, type Channel, type TracingChannel } from 'node:diagnostics_channel';
import {
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type MeterProvider,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import { checkOptionsObject, describe } from '../core/options';
import {
  ACQUIRE_CHANNEL,
  LOST_CHANNEL,
  RELEASE_CHANNEL,
  type AcquireMessage,
  type LostMessage,
  type ReleaseMessage,
} from './channels';

export interface InstrumentOptions {
  /** Where the metrics go. Default: the global one (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** Where the `yadl.acquire` spans go. Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /**
   * Whether metrics carry `yadl.lock.name`. Default true; false for names
   * with many values (one per customer, per order...), which would make a
   * time series each. Spans always carry the name.
   */
  nameAttribute?: boolean;
}

const SCOPE = 'yadl';
/** Waits and holds go from a fraction of a millisecond (a handoff) to minutes. */
const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000];
const INSTRUMENT_OPTIONS = ['meterProvider', 'tracerProvider', 'nameAttribute'] as const;

// Module-level references keep Node 20's weakly held channels (and so these subscriptions) alive.
const acquire: TracingChannel<unknown, AcquireMessage> = tracingChannel(ACQUIRE_CHANNEL);
const released: Channel = channel(RELEASE_CHANNEL);
const lost: Channel = channel(LOST_CHANNEL);

interface OpenWait {
  readonly span: Span;
  readonly attributes: Attributes;
}

/**
 * Turns yadl's diagnostics channels into OpenTelemetry metrics and spans:
 *
 * - `yadl.lock.wait.duration` (histogram, ms): from the start of an acquisition to its grant;
 * - `yadl.lock.hold.duration` (histogram, ms): from a grant to its release or loss;
 * - `yadl.lock.waiting` (up-down counter): acquisitions under way;
 * - `yadl.lock.held` (up-down counter): holds of this process;
 * - `yadl.lock.lost` (counter, with `reason`): holds that ended without their owner;
 * - a `yadl.acquire` span per acquisition, ended when it is granted, fails
 *   (status ERROR, with the exception) or is given up by its subscriber.
 *
 * Metrics carry `yadl.lock.name` (unless `nameAttribute: false`),
 * `yadl.lock.kind` and `yadl.lock.mode`. Acquisitions that began before
 * this call are not counted. Returns a function that stops it: open spans
 * are ended and what it counted as waiting or held is taken back off.
 */
export function instrument(options: InstrumentOptions = {}): () => void {
  const opts = checkOptionsObject(options, INSTRUMENT_OPTIONS, 'instrument options');
  const meterProvider = checkProvider<MeterProvider>(opts.meterProvider, 'meterProvider', 'getMeter') ?? metrics.getMeterProvider();
  const tracerProvider = checkProvider<TracerProvider>(opts.tracerProvider, 'tracerProvider', 'getTracer') ?? trace.getTracerProvider();
  if (opts.nameAttribute !== undefined && typeof opts.nameAttribute !== 'boolean') {
    throw new TypeError(`nameAttribute must be a boolean, got ${describe(opts.nameAttribute)}`);
  }
  const withName = opts.nameAttribute !== false;

  const meter = meterProvider.getMeter(SCOPE);
  const tracer = tracerProvider.getTracer(SCOPE);
  const waitDuration = meter.createHistogram('yadl.lock.wait.duration', {
    unit: 'ms',
    description: 'Time from the start of an acquisition to its grant',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const holdDuration = meter.createHistogram('yadl.lock.hold.duration', {
    unit: 'ms',
    description: 'Time from a grant to its release or loss',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const waiting = meter.createUpDownCounter('yadl.lock.waiting', {
    unit: '{acquisition}',
    description: 'Acquisitions under way in this process',
  });
  const held = meter.createUpDownCounter('yadl.lock.held', { unit: '{hold}', description: 'Holds of this process' });
  const lostCount = meter.createCounter('yadl.lock.lost', {
    unit: '{hold}',
    description: 'Holds that ended without their owner (LockLostError)',
  });

  const attributesOf = (m: { name: string; kind: string; mode: string }): Attributes =>
    withName ? { 'yadl.lock.name': m.name, 'yadl.lock.kind': m.kind, 'yadl.lock.mode': m.mode } : { 'yadl.lock.kind': m.kind, 'yadl.lock.mode': m.mode };
  /** Only what this instrumentation counted is taken back off, so the counters never go below zero. */
  const waits = new Map<AcquireMessage, OpenWait>();
  const holds = new Map<string, Attributes>();
  const holdKey = (m: { kind: string; prefix: string; name: string; fence: number }): string =>
    `${m.kind}\n${m.prefix}\n${m.name}\n${m.fence}`;

  const onStart = (message: unknown): void => {
    const m = message as AcquireMessage;
    const attributes = attributesOf(m);
    const span = tracer.startSpan('yadl.acquire', {
      kind: SpanKind.INTERNAL,
      attributes: {
        'yadl.lock.name': m.name,
        'yadl.lock.prefix': m.prefix,
        'yadl.lock.kind': m.kind,
        'yadl.lock.mode': m.mode,
        'yadl.lock.fair': m.fair,
      },
    });
    waits.set(m, { span, attributes });
    waiting.add(1, attributes);
  };
  const onError = (message: unknown): void => {
    const m = message as AcquireMessage;
    const open = waits.get(m);
    if (open === undefined) return;
    const error = m.error;
    if (error instanceof Error) open.span.recordException(error);
    open.span.setAttribute('error.type', error instanceof Error ? error.name : typeof error);
    open.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  };
  const onAsyncEnd = (message: unknown): void => {
    const m = message as AcquireMessage;
    const open = waits.get(m);
    if (open === undefined) return;
    waits.delete(m);
    waiting.add(-1, open.attributes);
    if (m.fence !== undefined) {
      waitDuration.record(m.waitMs ?? 0, open.attributes);
      held.add(1, open.attributes);
      holds.set(holdKey({ ...m, fence: m.fence }), open.attributes);
      open.span.setAttribute('yadl.lock.fence', m.fence);
      open.span.setAttribute('yadl.acquire.outcome', 'granted');
    } else {
      open.span.setAttribute('yadl.acquire.outcome', m.error === undefined ? 'left' : 'failed');
    }
    open.span.end();
  };
  const holdEnded = (m: ReleaseMessage): Attributes => {
    const key = holdKey(m);
    const counted = holds.get(key);
    if (counted !== undefined) {
      holds.delete(key);
      held.add(-1, counted);
    }
    const attributes = counted ?? attributesOf(m);
    holdDuration.record(m.heldMs, attributes);
    return attributes;
  };
  const onRelease = (message: unknown): void => {
    holdEnded(message as ReleaseMessage);
  };
  const onLost = (message: unknown): void => {
    const m = message as LostMessage;
    lostCount.add(1, { ...holdEnded(m), reason: m.reason });
  };

  acquire.start.subscribe(onStart);
  acquire.error.subscribe(onError);
  acquire.asyncEnd.subscribe(onAsyncEnd);
  released.subscribe(onRelease);
  lost.subscribe(onLost);

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    acquire.start.unsubscribe(onStart);
    acquire.error.unsubscribe(onError);
    acquire.asyncEnd.unsubscribe(onAsyncEnd);
    released.unsubscribe(onRelease);
    lost.unsubscribe(onLost);
    for (const open of waits.values()) {
      waiting.add(-1, open.attributes);
      open.span.setAttribute('yadl.acquire.outcome', 'unobserved');
      open.span.end();
    }
    waits.clear();
    for (const attributes of holds.values()) held.add(-1, attributes);
    holds.clear();
  };
}

function checkProvider<T>(provider: unknown, what: string, method: string): T | undefined {
  if (provider === undefined) return undefined;
  if (typeof provider === 'object' && provider !== null && typeof (provider as Record<string, unknown>)[method] === 'function') {
    return provider as T;
  }
  throw new TypeError(`${what} must be an OpenTelemetry ${what.replace('Provider', ' provider')} (with ${method}()), got ${describe(provider)}`);
}
