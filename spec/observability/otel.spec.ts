/**
 * `yadl/otel` on a private redis-server, read through the OpenTelemetry
 * SDK's in-memory exporters: the metrics (wait and hold durations, waiting
 * and held counts, losses by reason) and one `yadl.acquire` span per
 * acquisition, ended on grant, failure or stop.
 */
import { SpanStatusCode, type Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockTimeoutError, RedisLock, lock$ } from '../../src/index';
import { instrument, type InstrumentOptions } from '../../src/observability/otel';
import { sleep, useFaultKit, within, type Holding } from '../faults/fault-kit';

const kit = useFaultKit();

let metricExporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let spanExporter: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
const stops: (() => void)[] = [];

beforeEach(() => {
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exported on demand (forceFlush), never by its timer.
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  meterProvider = new MeterProvider({ readers: [reader] });
  spanExporter = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
});

afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

function instrumented(options: InstrumentOptions = {}): () => void {
  const stop = instrument({ meterProvider, tracerProvider, ...options });
  stops.push(stop);
  return stop;
}

interface Point {
  readonly attributes: Attributes;
  readonly value: number | Histogram;
}

/** Every data point of every metric, by metric name, as the reader exports them now. */
async function collect(): Promise<Map<string, Point[]>> {
  metricExporter.reset();
  await reader.forceFlush();
  const byName = new Map<string, Point[]>();
  for (const resource of metricExporter.getMetrics()) {
    for (const scope of resource.scopeMetrics) {
      expect(scope.scope.name).toBe('yadl');
      for (const metric of scope.metrics) {
        byName.set(
          metric.descriptor.name,
          metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number | Histogram })),
        );
      }
    }
  }
  return byName;
}

/** The sum of a counter's points (matching `attributes`), or the count of a histogram's. */
function total(metrics: Map<string, Point[]>, name: string, attributes: Attributes = {}): number {
  return (metrics.get(name) ?? [])
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (typeof p.value === 'number' ? p.value : p.value.count), 0);
}

function histogramSum(metrics: Map<string, Point[]>, name: string): number {
  return (metrics.get(name) ?? []).reduce((sum, p) => sum + (typeof p.value === 'number' ? 0 : p.value.sum ?? 0), 0);
}

function spans(): ReadableSpan[] {
  return spanExporter.getFinishedSpans().filter((s) => s.name === 'yadl.acquire');
}

function durationMs(span: ReadableSpan): number {
  return span.duration[0] * 1_000 + span.duration[1] / 1e6;
}

async function held(holding: Holding): Promise<void> {
  await within(holding.acquired, 5_000, 'the lease');
}

async function ended(holding: Holding): Promise<unknown> {
  const ending = await within(holding.ended, 5_000, 'the end');
  return ending.kind === 'error' ? ending.error : undefined;
}

const LOCK = { 'yadl.lock.name': 'otel', 'yadl.lock.kind': 'lock', 'yadl.lock.mode': 'write' };

describe('yadl/otel instrument()', () => {
  it('a grant, a wait and two releases: durations, the waiting and held counts, one span per acquisition', async () => {
    const server = await kit.server();
    instrumented();
    const holder = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await held(holder);
    const waiter = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await sleep(250);
    let m = await collect();
    expect(total(m, 'yadl.lock.waiting', LOCK)).toBe(1);
    expect(total(m, 'yadl.lock.held', LOCK)).toBe(1);
    expect(total(m, 'yadl.lock.wait.duration', LOCK)).toBe(1);
    expect(m.get('yadl.lock.held')?.[0]?.attributes).toEqual(LOCK);

    holder.unsubscribe();
    await held(waiter);
    m = await collect();
    expect(total(m, 'yadl.lock.waiting')).toBe(0);
    expect(total(m, 'yadl.lock.held')).toBe(1);
    expect(total(m, 'yadl.lock.wait.duration')).toBe(2);
    expect(histogramSum(m, 'yadl.lock.wait.duration')).toBeGreaterThanOrEqual(240);
    expect(total(m, 'yadl.lock.hold.duration', LOCK)).toBe(1);
    expect(histogramSum(m, 'yadl.lock.hold.duration')).toBeGreaterThanOrEqual(240);

    waiter.unsubscribe();
    m = await collect();
    expect(total(m, 'yadl.lock.held')).toBe(0);
    expect(total(m, 'yadl.lock.hold.duration')).toBe(2);
    expect(total(m, 'yadl.lock.lost')).toBe(0);

    const [first, second] = spans();
    expect(spans()).toHaveLength(2);
    for (const span of [first!, second!]) {
      expect(span.attributes).toMatchObject({
        'yadl.lock.name': 'otel',
        'yadl.lock.prefix': 'o',
        'yadl.lock.kind': 'lock',
        'yadl.lock.mode': 'write',
        'yadl.lock.fair': false,
        'yadl.acquire.outcome': 'granted',
      });
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    expect((await holder.acquired).fence).toBe(first!.attributes['yadl.lock.fence']);
    expect((await waiter.acquired).fence).toBe(second!.attributes['yadl.lock.fence']);
    expect(durationMs(second!)).toBeGreaterThanOrEqual(240);
  });

  it('a timeout ends its span with status ERROR and the exception; losses are counted by reason', async () => {
    const server = await kit.server();
    instrumented();
    const holder = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await held(holder);
    const timedOut = await ended(kit.hold(lock$('otel', { redis: server.url, prefix: 'o', timeout: 150 })));
    expect(timedOut).toBeInstanceOf(LockTimeoutError);
    holder.unsubscribe();

    const failed = spans().find((s) => s.attributes['yadl.acquire.outcome'] === 'failed')!;
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: (timedOut as Error).message });
    expect(failed.attributes['error.type']).toBe('LockTimeoutError');
    expect(failed.attributes).not.toHaveProperty('yadl.lock.fence');
    expect(failed.events.map((e) => e.name)).toEqual(['exception']);
    expect(durationMs(failed)).toBeGreaterThanOrEqual(140);

    const victim = kit.hold(lock$('gone', { redis: server.url, prefix: 'o', lease: 300 }));
    await held(victim);
    await new RedisLock('gone', { redis: server.url, prefix: 'o' }).release({ force: true });
    await ended(victim);
    const expiring = kit.hold(lock$('expiring', { redis: server.url, prefix: 'o', ttl: 200, mode: 'read' }));
    await held(expiring);
    await ended(expiring);

    const m = await collect();
    expect(total(m, 'yadl.lock.waiting')).toBe(0);
    expect(total(m, 'yadl.lock.held')).toBe(0);
    expect(total(m, 'yadl.lock.wait.duration')).toBe(3); // grants only
    expect(total(m, 'yadl.lock.hold.duration')).toBe(3);
    expect(total(m, 'yadl.lock.lost')).toBe(2);
    expect(total(m, 'yadl.lock.lost', { 'yadl.lock.name': 'gone', 'yadl.lock.mode': 'write', reason: 'gone' })).toBe(1);
    expect(total(m, 'yadl.lock.lost', { 'yadl.lock.name': 'expiring', 'yadl.lock.mode': 'read', reason: 'expired' })).toBe(1);
  });

  it('nameAttribute: false leaves the name out of the metrics (spans keep it)', async () => {
    const server = await kit.server();
    instrumented({ nameAttribute: false });
    const holder = kit.hold(lock$('secret-ish', { redis: server.url, prefix: 'o' }));
    await held(holder);
    holder.unsubscribe();
    const m = await collect();
    for (const name of ['yadl.lock.wait.duration', 'yadl.lock.hold.duration', 'yadl.lock.held', 'yadl.lock.waiting']) {
      for (const point of m.get(name) ?? []) expect(point.attributes).toEqual({ 'yadl.lock.kind': 'lock', 'yadl.lock.mode': 'write' });
    }
    expect(total(m, 'yadl.lock.hold.duration')).toBe(1);
    expect(spans()[0]?.attributes['yadl.lock.name']).toBe('secret-ish');
  });

  it('stopping ends the open spans, takes back what it counted, and observes nothing more', async () => {
    const server = await kit.server();
    const stop = instrumented();
    const holder = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await held(holder);
    const waiter = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await sleep(100);
    stop();
    stop(); // idempotent
    expect(spans().map((s) => s.attributes['yadl.acquire.outcome'])).toEqual(['granted', 'unobserved']);
    let m = await collect();
    expect(total(m, 'yadl.lock.waiting')).toBe(0);
    expect(total(m, 'yadl.lock.held')).toBe(0);

    holder.unsubscribe();
    await held(waiter);
    waiter.unsubscribe();
    const after = kit.hold(lock$('otel', { redis: server.url, prefix: 'o' }));
    await held(after);
    after.unsubscribe();
    m = await collect();
    expect(spans()).toHaveLength(2);
    expect(total(m, 'yadl.lock.wait.duration')).toBe(1);
    expect(total(m, 'yadl.lock.hold.duration')).toBe(0);
    expect(total(m, 'yadl.lock.held')).toBe(0);
  });

  it('refuses bad options', () => {
    expect(() => instrument({ meterProvider: {} as never })).toThrow(TypeError);
    expect(() => instrument({ tracerProvider: 'global' as never })).toThrow(TypeError);
    expect(() => instrument({ nameAttribute: 'no' as never })).toThrow(new TypeError("nameAttribute must be a boolean, got the string 'no'"));
    expect(() => instrument({ nameAtribute: false } as InstrumentOptions)).toThrow(/did you mean 'nameAttribute'/);
  });
});
