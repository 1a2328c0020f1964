#!/usr/bin/env node
import { cli } from './cli';
import { flushed, processOutput } from './output';

// Exits explicitly: a connection lingering after the work is done must not keep `yadl` alive.
void cli(process.argv.slice(2), processOutput).then(async (code) => {
  await flushed();
  process.exit(code);
});
