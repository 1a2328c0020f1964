import { asyncMutexContender } from './async-mutex';
import { electorContenders } from './electors';
import { rawContenders } from './raw';
import { redisSemaphoreContenders } from './redis-semaphore';
import { redlockContenders } from './redlock';
import { semaphoreContenders } from './semaphores';
import type { AdapterOptions, ContenderSpec, LockAdapter } from './types';
import { yadlContenders } from './yadl';

export const contenders: readonly ContenderSpec[] = [
  ...yadlContenders,
  ...redlockContenders,
  ...redisSemaphoreContenders,
  ...rawContenders,
  asyncMutexContender,
  ...semaphoreContenders,
  ...electorContenders,
];

export function contender(id: string): ContenderSpec {
  const spec = contenders.find((c) => c.id === id);
  if (spec === undefined) throw new Error(`unknown contender '${id}'; known: ${contenders.map((c) => c.id).join(', ')}`);
  return spec;
}

export function createAdapter(id: string, options: AdapterOptions): Promise<LockAdapter> {
  return contender(id).create(options);
}

export type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';
