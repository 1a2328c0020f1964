import type { LockHoldInfo, SemaphoreHolder } from '../admin/hold-info';

/** 850ms, 12.3s, 4m05s, 2h03m, 3d04h. */
export function duration(ms: number): string {
  const v = Math.max(0, Math.round(ms));
  if (v < 1_000) return `${v}ms`;
  if (v < 60_000) return `${(Math.floor(v / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(v / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3_600) % 24)}h`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Lock names and labels come from whoever took the lock: control and
 * formatting characters are shown escaped, so that a name cannot rewrite
 * the operator's terminal or break a table into extra lines.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\u2028\u2029\\]/gu, (c) =>
    c === '\\' ? '\\\\' : `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`,
  );
}

/** Left-aligned columns, two spaces apart, with a header row. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** How long a hold has been held, when Redis records since when; `serverNow` is the server's clock, estimated here. */
export function heldFor(hold: { readonly since?: number }, serverNow: number): string {
  return hold.since === undefined ? '-' : duration(serverNow - hold.since);
}

/** `write  fence 1714…  expires in 28.1s  held for 3.2s  label host:123` */
export function describeHold(hold: LockHoldInfo, serverNow: number): string {
  return describeParts(`${hold.mode.padEnd(5)}  fence ${hold.fence}`, hold, serverNow);
}

/** `2 permits  fence 1714…  expires in 28.1s  held for 3.2s  label host:123` */
export function describeGrant(grant: SemaphoreHolder, serverNow: number, width = 0): string {
  return describeParts(`${`${grant.permits} permit${grant.permits === 1 ? '' : 's'}`.padEnd(width)}  fence ${grant.fence}`, grant, serverNow);
}

function describeParts(
  head: string,
  hold: { readonly expiresInMs: number; readonly since?: number; readonly label?: string },
  serverNow: number,
): string {
  const parts = [head, `expires in ${duration(hold.expiresInMs)}`];
  if (hold.since !== undefined) parts.push(`held for ${heldFor(hold, serverNow)}`);
  if (hold.label !== undefined) parts.push(`label ${printable(hold.label)}`);
  return parts.join('  ');
}

/** `'name'` or `'name' (prefix 'p')`, escaped for the terminal. */
export function lockTitle(name: string, prefix: string): string {
  return `'${printable(name)}'${prefix === '' ? '' : ` (prefix '${printable(prefix)}')`}`;
}

/** A message on one line: line breaks become spaces, control characters are escaped. */
export function oneLine(text: string): string {
  return printable(text.replace(/\s*[\r\n]+\s*/g, ' ').trim());
}

/** Local wall-clock time of day, to the millisecond. */
export function clock(): string {
  const d = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
