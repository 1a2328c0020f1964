/**
 * Progress on stderr: which scenario, which contender, which repetition, and
 * what it measured. On a terminal the run's line shows while it runs.
 */
export class Progress {
  private readonly started = performance.now();
  private pending = '';

  constructor(
    private readonly write: (text: string) => void,
    private readonly interactive: boolean,
  ) {}

  scenario(index: number, total: number, id: string, title: string): void {
    this.line(`\n[${index}/${total}] ${id}: ${title}`);
  }

  start(label: string, rep: number, reps: number): void {
    this.pending = `  ${label.padEnd(40)} rep ${rep}/${reps}`;
    if (this.interactive) this.write(`${this.pending} …`);
  }

  finish(summary: string): void {
    const elapsed = `[${Math.round((performance.now() - this.started) / 1000)} s]`;
    if (this.interactive) this.write('\r\u001b[2K');
    this.line(`${this.pending}  ${summary}  ${elapsed}`);
    this.pending = '';
  }

  note(text: string): void {
    if (this.interactive && this.pending !== '') this.write('\r\u001b[2K');
    this.line(`  ${text}`);
    if (this.interactive && this.pending !== '') this.write(`${this.pending} …`);
  }

  private line(text: string): void {
    this.write(`${text}\n`);
  }
}
