#!/usr/bin/env node
import { cli } from './cli';
import { flushed, processOutput } from './output';

// `yadl ls | head -1`: a reader that went away ends the command quietly, as SIGPIPE would.
process.stdout.on('error', () => process.exit(0));
// Messages nobody can read any more are dropped; the work (a release) still finishes.
process.stderr.on('error', () => undefined);

// Exits explicitly: a connection lingering after the work is done must not keep `yadl` alive.
void cli(process.argv.slice(2), processOutput).then(async (code) => {
  await flushed();
  process.exit(code);
});
