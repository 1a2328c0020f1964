/** Where a command writes: one line (or block) at a time, each ending with a newline. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processOutput: Output = {
  stdout: (text) => void process.stdout.write(`${text}\n`),
  stderr: (text) => void process.stderr.write(`${text}\n`),
};

/** Resolves once what was written to stdout and stderr has been handed to the OS, so that exiting loses none of it. */
export function flushed(): Promise<void> {
  const drained = (stream: NodeJS.WriteStream): Promise<void> =>
    new Promise((resolve) => {
      if (stream.writableLength === 0) resolve();
      else stream.write('', () => resolve());
    });
  return Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => undefined);
}
