/**
 * Plain-text output for the demo: no colours, aligned columns, times in ms
 * since the demo started (DEMO_T0, shared with the worker processes).
 */
if (process.env.DEMO_T0 === undefined) process.env.DEMO_T0 = String(Date.now());
const demoStart = Number(process.env.DEMO_T0);

/** Milliseconds since the demo started. */
export function since(): number {
  return Date.now() - demoStart;
}

export function heading(title: string, ...lines: string[]): void {
  console.log(`\n${title}`);
  for (const line of lines) console.log(`   ${line}`);
  console.log(`${'ms'.padStart(8)}  ${'who'.padEnd(12)}what`);
}

export function row(ms: number, who: string, what: string): void {
  console.log(`${String(ms).padStart(8)}  ${who.padEnd(12)}${what}`);
}

export function note(text: string): void {
  console.log(`   ${text}`);
}
