/**
 * The announcer's bound on its processes, without root: a stand-in for
 * arping records its pid and waits, so the tests can see whether a release
 * really ends it and whether a lease too short to write starts anything.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseVip } from '../../src/network/linux/address.js';
import { Announcer, leaseSeconds, type AnnounceTarget } from '../../src/network/linux/announce.js';
import { ARMED_SCRIPT, REARM_DELAY_MS } from '../../src/network/linux/armed-arping.js';
import { SystemRunner } from '../../src/network/linux/command.js';
import { processAlive } from '../../src/util/process.js';
import { waitFor } from './linux-lab.js';

const parsed = parseVip('192.0.2.10/24');
if (!parsed.ok) throw new Error(parsed.error);
const TARGET: AnnounceTarget = { vip: parsed.vip, device: 'lan0' };

/** A directory with `fake-arping`, which writes `pid-<its pid>` there and sleeps. */
function fakeArping(t: Test): { dir: string; path: string; pids: () => number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'hapair-announce-'));
  t.teardown(() => {
    for (const pid of pidsIn(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'fake-arping');
  writeFileSync(path, `#!/bin/sh\necho $$ > "${dir}/pid-$$"\nexec sleep 5\n`);
  chmodSync(path, 0o755);
  return { dir, path, pids: () => pidsIn(dir) };
}

function pidsIn(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('pid-'))
    .map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()));
}

/** waitFor (the lab's poll) for a check that needs no await. */
const until = (check: () => boolean, timeoutMs: number): Promise<boolean> => waitFor(async () => check(), timeoutMs, 10);

function announcer(arping: string, leaseLeftMs: () => number): { a: Announcer; errors: string[] } {
  const errors: string[] = [];
  const a = new Announcer(
    new SystemRunner(),
    { arping, arpingFlavor: 'iputils', timeout: 'timeout', na6: null },
    { burstCount: 1, burstIntervalMs: 100, tailCount: 0, tailIntervalMs: 1000 },
    leaseLeftMs,
    (line) => errors.push(line),
  );
  return { a, errors };
}

t.test('leaseSeconds: whole milliseconds rounded down, nothing below one', async (t) => {
  t.equal(leaseSeconds(10.9), '0.010');
  t.equal(leaseSeconds(1), '0.001');
  t.equal(leaseSeconds(0.999), null, 'timeout would read 0.000 as no limit at all');
  t.equal(leaseSeconds(0), null);
  t.equal(leaseSeconds(-5), null);
  t.equal(leaseSeconds(700.4), '0.700');
});

for (const armed of [false, true]) {
  t.test(`a release ends an announcement already running (${armed ? 'from the ready shell' : 'a process started for it'})`, async (t) => {
    const fake = fakeArping(t);
    const { a } = announcer(fake.path, () => 5000);
    t.teardown(() => a.close());
    if (armed) a.arm([TARGET]);
    t.equal(a.start([TARGET]), null);
    t.ok(await until(() => fake.pids().length === 1, 3000), 'the stand-in for arping runs');
    const [pid] = fake.pids();
    if (pid === undefined) return;
    a.stopAll();
    t.ok(await until(() => !processAlive(pid), 2000), `arping (pid ${pid}) ended with the release, not only timeout around it`);
  });
}

t.test('a lease under a millisecond starts nothing, from the ready shell or otherwise', async (t) => {
  const fake = fakeArping(t);
  const { a } = announcer(fake.path, () => 0.4);
  t.teardown(() => a.close());
  a.arm([TARGET]);
  t.equal(a.armed?.fire(TARGET, 0.4), false, 'the ready shell is not told');
  a.start([TARGET]);
  await new Promise((r) => setTimeout(r, 300));
  t.same(fake.pids(), [], 'no arping ran');
});

t.test('the ready shell runs the command only for a positive number of seconds', async (t) => {
  const fake = fakeArping(t);
  // `$0` is a stand-in for timeout that records the duration it was given.
  const run = (input: string): number | null =>
    spawnSync('/bin/sh', ['-c', ARMED_SCRIPT, join(fake.dir, 'fake-timeout'), fake.path], { input, timeout: 5000 }).status;
  writeFileSync(join(fake.dir, 'fake-timeout'), `#!/bin/sh\necho "$4" > "${fake.dir}/seconds"\n`);
  chmodSync(join(fake.dir, 'fake-timeout'), 0o755);
  for (const bad of ['0.000', '0', '', 'abc', '1;reboot', '.5', '1.2.3', '-1']) {
    t.equal(run(`${bad}\n`), 2, `refused: ${JSON.stringify(bad)}`);
  }
  t.equal(run(''), 0, 'end of input (the agent exited): nothing, and no error');
  t.equal(run('0.250\n'), 0);
  t.equal(readFileSync(join(fake.dir, 'seconds'), 'utf8').trim(), '0.250', 'timeout got the lease left');
});

t.test('a ready shell that ends by itself is reported and replaced', async (t) => {
  const fake = fakeArping(t);
  const { a, errors } = announcer(fake.path, () => 5000);
  t.teardown(() => a.close());
  a.arm([TARGET]);
  const [first] = a.armed?.readyPids() ?? [];
  t.ok(first !== undefined, 'one shell ready');
  if (first === undefined) return;
  process.kill(first, 'SIGKILL');
  t.ok(await until(() => errors.some((e) => /the ready shell for .* ended \(SIGKILL\)/.test(e)), 2000), `reported: ${errors.join(' | ')}`);
  t.ok(await until(() => (a.armed?.readyPids() ?? []).some((p) => p !== first), REARM_DELAY_MS + 2000), 'a new one is ready');
  a.close();
  t.same(a.armed?.readyPids(), [], 'none after close');
  t.same(fake.pids(), [], 'and none of them sent anything');
});
