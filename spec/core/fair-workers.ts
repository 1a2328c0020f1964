import { afterEach } from 'vitest';
import { startFairWorker, type FairWorker } from './fair-line';

/** Worker processes for one test, SIGKILLed after it if still running. */
export function useFairWorkers(): (url: string, prefix: string, label: string) => Promise<FairWorker> {
  const started: FairWorker[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.kill()));
  });
  return async (url, prefix, label) => {
    const w = startFairWorker(url, prefix, label);
    started.push(w);
    await w.process.message((m) => m.ready === true, 30_000);
    return w;
  };
}
