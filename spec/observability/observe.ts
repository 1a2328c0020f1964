/**
 * Helpers of the observability specs: a recorder of every message yadl
 * publishes on its diagnostics channels (with a snapshot of the context at
 * each event, since one acquisition's context object is filled in as it
 * goes), and a MONITOR that collects every owner token sent to Redis.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { startMonitor } from '../support/monitor';

export const TOKEN = /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g;

export const TRACING_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
export type TracingEvent = (typeof TRACING_EVENTS)[number];

export interface Recorded {
  /** `acquire:<event>`, `release` or `lost`. */
  readonly what: string;
  /** The published object itself (an acquisition's context is the same object at every event). */
  readonly message: object;
  /** Its own enumerable fields when it was published. */
  readonly fields: Record<string, unknown>;
  /** util.inspect of it, everything shown, as a logger would print it. */
  readonly rendered: string;
}

export interface Recorder {
  readonly events: Recorded[];
  of(what: string, name?: string): Recorded[];
  stop(): void;
}

export function recordChannels(): Recorder {
  const events: Recorded[] = [];
  const handlers: [string, (message: unknown) => void][] = [];
  const on = (channel: string, what: string): void => {
    const handler = (message: unknown): void => {
      const m = message as object;
      events.push({
        what,
        message: m,
        fields: { ...(m as Record<string, unknown>) },
        rendered: `${inspect(m, { depth: 10, showHidden: true })}\n${safeJson(m)}`,
      });
    };
    diagnosticsChannel.subscribe(channel, handler);
    handlers.push([channel, handler]);
  };
  for (const event of TRACING_EVENTS) on(`tracing:yadl:acquire:${event}`, `acquire:${event}`);
  on('yadl:release', 'release');
  on('yadl:lost', 'lost');
  return {
    events,
    of: (what, name) => events.filter((e) => e.what === what && (name === undefined || e.fields.name === name)),
    stop: () => {
      for (const [channel, handler] of handlers.splice(0)) diagnosticsChannel.unsubscribe(channel, handler);
    },
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v));
  } catch {
    return '';
  }
}

/** Collects every 32-hex argument of every command the server at `url` receives (MONITOR does not show CONFIG: see commandCalls). */
export async function monitorTokens(url: string): Promise<{ tokens: Set<string>; stop: () => Promise<void> }> {
  const tokens = new Set<string>();
  const m = await startMonitor(url, (_time, args) => {
    const command = (args[0] ?? '').toLowerCase();
    for (const arg of args.slice(command.startsWith('eval') ? 2 : 1)) for (const t of arg.match(TOKEN) ?? []) tokens.add(t);
  });
  return { tokens, stop: () => m.stop() };
}
