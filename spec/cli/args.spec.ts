import { describe, expect, it } from 'vitest';
import { cli as yadl } from '../../src/cli/cli';
import { getFreePort } from '../support/redis-server';
import { useCli, type CliResult } from './cli-kit';

const cli = useCli();

/** `yadl ARGS` in this process, for arguments refused before any I/O: what the process would print and exit with. */
async function inProcess(args: readonly string[]): Promise<Omit<CliResult, 'signal'>> {
  let stdout = '';
  let stderr = '';
  const code = await yadl(args, { stdout: (text) => (stdout += `${text}\n`), stderr: (text) => (stderr += `${text}\n`) });
  return { code, stdout, stderr };
}

/** Nothing on stdout, one line on stderr that points at the help, exit 2. */
function expectUsageError(result: Omit<CliResult, 'signal'>, message: RegExp | string): void {
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^yadl: .* \(see 'yadl( \w+)? --help'\)\n$/);
  if (typeof message === 'string') expect(result.stderr).toContain(message);
  else expect(result.stderr).toMatch(message);
  expect(result.code).toBe(2);
}

describe('yadl arguments', { timeout: 90_000 }, () => {
  it('answers bad arguments with one clear line and exit code 2, before connecting to anything', async () => {
    const port = await getFreePort();
    const redis = ['--redis', `redis://127.0.0.1:${port}/0`];
    const cases: [string[], RegExp | string][] = [
      [[], 'no command given'],
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['ls', '--jsn', ...redis], "unknown option --jsn for 'yadl ls' (did you mean --json?)"],
      [['ls', 'extra', ...redis], "unexpected argument 'extra'"],
      [['show', ...redis], "'yadl show' needs the NAME of a lock"],
      [['show', 'a', 'b', ...redis], "unexpected argument 'b'"],
      [['show', '', ...redis], 'lock name must not be empty'],
      [['show', 'x'.repeat(1025), ...redis], 'the maximum is 1024'],
      [['ls', '--prefix', 'p'.repeat(257), ...redis], 'the maximum is 256'],
      [['ls', '--prefix', ...redis], '--prefix needs a value'],
      [['ls', '--json=yes', ...redis], '--json takes no value'],
      [['run', 'x', ...redis], "'yadl run' needs a command to run after --"],
      [['run', 'x', 'sleep', '1', ...redis], "unexpected argument 'sleep' (put the command to run after --)"],
      [['run', 'x', '--timeout', 'soon', ...redis, '--', 'true'], "--timeout must be a whole number of milliseconds, got 'soon'"],
      [['run', 'x', '--timeout', '-2', ...redis, '--', 'true'], '--timeout must be between -1 and'],
      [['run', 'x', '--lease', '5', ...redis, '--', 'true'], '--lease must be between 30 and'],
      [['run', 'x', '--mode', 'exclusive', ...redis, '--', 'true'], "--mode must be read or write, got 'exclusive'"],
      [['run', 'x', '--label', 'l'.repeat(257), ...redis, '--', 'true'], 'label must be at most 256 characters'],
      [['run', 'x', '--fair=yes', ...redis, '--', 'true'], '--fair takes no value'],
      [['watch', 'x', '--keyspace-events', 'never', ...redis], "--keyspace-events must be configure, assume or off, got 'never'"],
      [['watch', 'x', '--interval', '5', ...redis], '--interval must be between 20 and'],
      [['ls', '--', 'x', ...redis], "'yadl ls' takes no command after --"],
      [['ls', '--redis', 'http://127.0.0.1:6379'], '--redis must be a redis:// or rediss:// URL'],
      [['ls', '--redis', 'not a url'], '--redis is not a URL'],
      [['ls', '--cluster', 'nonsense'], "--cluster expects host:port[,host:port...], got 'nonsense'"],
      [['ls', '--cluster', '127.0.0.1:99999'], '--cluster expects host:port'],
      [['ls', '--cluster', '127.0.0.1:7000', '--redis', 'redis://127.0.0.1:7000'], 'use either --redis or --cluster, not both'],
      [['ls', '--redis-timeout', '0', ...redis], '--redis-timeout must be between 1 and'],
      [['ls', '--kind', 'semaphores', ...redis], "--kind must be lock, semaphore or election, got 'semaphores' (did you mean semaphore?)"],
      [['show', 'x', '--kind', 'leader', ...redis], "--kind must be lock, semaphore or election, got 'leader'"],
      [['show', 'x', '--kind', ...redis], '--kind needs a value'],
      [['release', 'x', '--kind', 'semaphore', '--force', '--yes', ...redis], "release frees locks only: a semaphore's permits come back only from their holder or by expiry"],
      [['release', 'x', '--kind', 'election', '--force', '--yes', ...redis], "release frees locks only: an election's term ends only by resignation or expiry"],
      [['leader', ...redis], "'yadl leader' needs the NAME of an election"],
      [['leader', '', ...redis], 'lock name must not be empty'],
      [['leader', 'x', '--wacth', ...redis], "unknown option --wacth for 'yadl leader' (did you mean --watch?)"],
      [['leader', 'x', '--watch', '--keyspace-events', 'maybe', ...redis], "--keyspace-events must be configure, assume or off, got 'maybe'"],
      [['leader', 'x', '--watch=yes', ...redis], '--watch takes no value'],
    ];
    for (const [args, message] of cases) {
      try {
        expectUsageError(await inProcess(args), message);
      } catch (error) {
        throw new Error(`yadl ${args.join(' ').slice(0, 80)}: ${(error as Error).message}`);
      }
    }
    // The same from the real command line, a few of them; a bad REDIS_URL is named as such.
    const spawned = await Promise.all([
      cli.run(['frobnicate']),
      cli.run(['run', 'x', '--lease', '5', ...redis, '--', 'true']),
      cli.run(['ls'], { env: { REDIS_URL: 'localhost:6379' } }),
    ]);
    expectUsageError(spawned[0]!, "unknown command 'frobnicate'");
    expectUsageError(spawned[1]!, '--lease must be between 30 and');
    expectUsageError(spawned[2]!, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('says in one line that it cannot connect (exit 1), without the password', async () => {
    const port = await getFreePort();
    const single = await cli.run(['ls', '--redis', `redis://:s3cret@127.0.0.1:${port}/0`]);
    expect(single).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `yadl: cannot connect to Redis at 127.0.0.1:${port}/0: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
    const cluster = await cli.run(['show', 'x', '--cluster', `127.0.0.1:${port}`]);
    expect(cluster.code).toBe(1);
    expect(cluster.stderr).toMatch(new RegExp(`^yadl: cannot connect to Redis at cluster 127\\.0\\.0\\.1:${port}: .+\\n$`));
    const run = await cli.run(['run', 'x', '--redis', `redis://127.0.0.1:${port}/0`, '--', 'echo', 'ran']);
    expect(run).toMatchObject({ code: 1, stdout: '' });
  });

  it('prints help for yadl and for every command, with exit code 0', async () => {
    const main = await cli.run(['--help']);
    expect(main.code).toBe(0);
    for (const command of ['ls', 'show', 'watch', 'release', 'run', 'leader']) expect(main.stdout).toMatch(new RegExp(`^  ${command}\\s+\\S`, 'm'));
    const helps = await Promise.all(['ls', 'show', 'watch', 'release', 'run', 'leader'].map((command) => inProcess([command, '--help'])));
    for (const [i, command] of ['ls', 'show', 'watch', 'release', 'run', 'leader'].entries()) {
      expect(helps[i]!.code).toBe(0);
      expect(helps[i]!.stdout).toMatch(new RegExp(`^usage: yadl ${command} `));
      expect(helps[i]!.stdout).toContain('--redis URL');
      expect(helps[i]!.stdout).toContain('--cluster HOST:PORT[,...]');
    }
    expect((await inProcess(['help', 'run'])).stdout).toMatch(/^usage: yadl run NAME/);
    expect((await inProcess(['run', '-h'])).stdout).toMatch(/^usage: yadl run NAME/);
  });
});
