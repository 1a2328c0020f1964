import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Admin } from '../support/redis-admin';
import type { Machine } from './results';

const REPO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const MEASURED_PACKAGES = ['ioredis', 'rxjs', 'redlock', '@sesamecare-oss/redlock', 'redis-semaphore', 'async-mutex'] as const;

export function packageVersion(name: string): string {
  try {
    const file = name === 'yadl' ? path.join(REPO_ROOT, 'package.json') : path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
    return version.replace(/^v/, '');
  } catch {
    return 'unknown';
  }
}

function gitDescribe(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit} (src/ modified)` : commit;
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(admin: Admin, redisSource: string, notifyKeyspaceEvents: string): Promise<Machine> {
  const cpus = os.cpus();
  const server = await admin.serverInfo();
  const packages: Record<string, string> = { yadl: packageVersion('yadl') };
  for (const name of MEASURED_PACKAGES) packages[name] = packageVersion(name);
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: { start: os.loadavg(), end: [] },
    node: process.version,
    redis: server.version,
    redisHz: server.hz,
    redisSource,
    notifyKeyspaceEvents,
    packages,
    yadlCommit: gitDescribe(),
  };
}
