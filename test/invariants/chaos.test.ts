// `npm run chaos` in short (issue 15): two server processes on a private PostgreSQL and Redis,
// writers and followers on every stream, while the nemesis kills -9 and pauses servers and
// restarts PostgreSQL and Redis (at least once each). After healing, every anomaly count of the
// Jepsen-style checks (test/chaos/check.ts) is 0. Every wait is a condition with a bound.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatResult, runChaos } from '../chaos/chaos.js';
import { FAULT_KINDS } from '../chaos/nemesis.js';

describe('chaos, short', () => {
  it('under kill -9, SIGSTOP, PostgreSQL and Redis restarts nothing acknowledged is lost, repeated or skipped, and derived state equals the log', async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const lines: string[] = [];
    const result = await runChaos({
      seed,
      durationMs: 15_000,
      servers: 2,
      writers: 2,
      faultIntervalMs: [1000, 2500],
      healTimeoutMs: 90_000,
      // Fewer batches than the full run: the other test files share the machine.
      paceMs: [50, 200],
      log: (line) => lines.push(line),
    });
    const report = `${formatResult(result)}\n\n${lines.join('\n')}\n(npm run chaos -- --seed ${seed} --servers 2 replays this schedule)`;
    for (const kind of FAULT_KINDS) expect(result.faults[kind], report).toBeGreaterThan(0);
    expect(result.ledger.acknowledged.size, report).toBeGreaterThan(0);
    for (const follower of result.followers)
      expect(follower.received, `${follower.stream}\n${report}`).toBeGreaterThan(0);
    expect(Object.fromEntries(result.anomalies.map((a) => [a.check, a.count])), report).toEqual(
      Object.fromEntries(result.anomalies.map((a) => [a.check, 0])),
    );
  }, 400_000);
});

describe('npm run chaos', () => {
  it('--help says what it does and its flags, and exits 0', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/chaos/run.ts', '--help'], {
      cwd: root,
      timeout: 60_000,
    });
    expect(stdout).toMatch(/usage: npm run chaos/i);
    for (const flag of ['--seed', '--duration', '--servers', '--writers', '--interval', '--heal-timeout', '--help']) {
      expect(stdout).toContain(flag);
    }
  });

  it('refuses a malformed flag with a clear message and exit code 2', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const failure = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/chaos/run.ts', '--duration', 'soon'],
      {
        cwd: root,
        timeout: 60_000,
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringMatching(/--duration must be a number/) });
  });
});
