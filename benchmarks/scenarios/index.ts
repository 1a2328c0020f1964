import { contendedTasks, contended } from './s2-contended';
import { expiry, expiryTasks } from './s4-expiry';
import { idleWaiters, idleWaitersTasks } from './s3-idle-waiters';
import { manyNames, manyNamesTasks } from './s5-many-names';
import { pingPongScenario, pingPongTasks } from './s2b-ping-pong';
import { readersWriters, readersWritersTasks } from './s6-readers-writers';
import { scaleScenario, scaleTasks } from './s7-scale';
import { uncontended, uncontendedTasks } from './s1-uncontended';
import { clusterScaleOut, clusterTasks } from './s8-cluster';
import { deadHead, deadHeadTasks } from './s9-dead-head';
import { semaphoreScenario, semaphoreTasks } from './s10-semaphore';
import { election, electionTasks } from './s12-election';
import { multiLock, multiLockTasks } from './s11-multi-lock';
import type { Scenario, Task } from './types';

export const scenarios: readonly Scenario[] = [
  uncontended,
  contended,
  pingPongScenario,
  idleWaiters,
  expiry,
  manyNames,
  readersWriters,
  scaleScenario,
  clusterScaleOut,
  deadHead,
  semaphoreScenario,
  election,
  multiLock,
];

/** Everything a worker process can be asked to run. */
export const tasks: Readonly<Record<string, Task>> = {
  ...uncontendedTasks,
  ...contendedTasks,
  ...pingPongTasks,
  ...idleWaitersTasks,
  ...expiryTasks,
  ...manyNamesTasks,
  ...readersWritersTasks,
  ...scaleTasks,
  ...clusterTasks,
  ...deadHeadTasks,
  ...semaphoreTasks,
  ...electionTasks,
  ...multiLockTasks,
};

export type { Metrics, MetricDef, Scenario, ScenarioContext, Timing } from './types';
export { FULL_TIMING, QUICK_TIMING } from './types';
