/**
 * The `hapair` command as a child process (`node --import tsx
 * src/cli/main.ts ...`, HAPAIR_API / HAPAIR_TOKEN in the environment)
 * against a real 3-node cluster on loopback: status, config get/apply,
 * switchover and its refusal, maintenance, backups, audit and notes, exit
 * codes and one-line errors.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { BASE_SETTINGS, CLI_MAIN, cliEnv, ROOT, runCli, TOKEN_NAMES, startCluster, type CliRun, type NodeName, type TestCluster, type TokenRole } from './harness.js';

function hapair(c: TestCluster, args: readonly string[], opts: { via?: NodeName; token?: TokenRole | null } = {}): Promise<CliRun> {
  return runCli(c, args, { ...opts, timeoutMs: 60_000 });
}

/** `hapair events` in the background until stop() sends SIGINT (by PID) and returns its exit code. */
function follow(c: TestCluster): { output(): string; stop(): Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, 'events'], {
    cwd: ROOT,
    env: cliEnv(c, 'wit', 'viewer'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    if (out.length < 1_000_000) out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** One line, ending in a newline, no stack trace. */
function oneLine(stderr: string): boolean {
  return stderr.endsWith('\n') && stderr.trimEnd().split('\n').length === 1 && !/\n\s+at /.test(stderr);
}

t.test('the hapair CLI against a live 3-node cluster', async (t) => {
  const c = await startCluster(t, { name: 'clitest' });

  await t.test('status: human output names the active node; --json is the API status', async (t) => {
    // Asked of the active, which is the Raft leader (it holds the VIPs only as leader) and so hears every member.
    const human = await hapair(c, ['status'], { token: 'viewer', via: 'fw1' });
    t.equal(human.code, 0, human.stderr);
    t.equal(human.stderr, '');
    t.match(human.stdout, /^Cluster: clitest\n/);
    t.match(human.stdout, /answered by fw1; leader fw1 \(term \d+\)/);
    t.match(human.stdout, /^Active: fw1 since \S+ \(.+ ago\), epoch \d+, reason: \S+$/m);
    t.match(human.stdout, /^ {2}fw1\b.* data +active +/m);
    t.match(human.stdout, /^ {2}fw2\b.* data +standby +/m);
    t.match(human.stdout, /^ {2}wit\b.* witness +witness +/m);

    const json = await hapair(c, ['status', '--json'], { token: 'viewer', via: 'fw2' });
    t.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as Record<string, unknown>;
    t.match(status, {
      node: 'fw2',
      cluster: 'clitest',
      leader: /^(fw1|fw2|wit)$/,
      term: Number,
      active: { node: 'fw1', epoch: Number, since: String, reason: String },
      configRevision: Number,
      conditions: Array,
    });
    t.same(
      (status['members'] as Array<{ id: string }>).map((m) => m.id),
      ['fw1', 'fw2', 'wit'],
    );

    const noToken = await hapair(c, ['status'], { token: null });
    t.equal(noToken.code, 1);
    t.ok(oneLine(noToken.stderr), noToken.stderr);
    t.match(noToken.stderr, /^error: .*give a token with --token or HAPAIR_TOKEN \(UNAUTHENTICATED\)\n$/);
  });

  await t.test('config get, then config apply -f of the edited file (compare-and-set by its revision comment)', async (t) => {
    const got = await hapair(c, ['config', 'get'], { token: 'viewer', via: 'fw2' });
    t.equal(got.code, 0, got.stderr);
    const revision = Number(/^# revision: (\d+)$/m.exec(got.stdout)?.[1]);
    t.ok(revision >= 1, `the revision is in a comment: ${revision}`);
    const doc = parseYaml(got.stdout) as Record<string, unknown>;
    t.match(doc, { preferred: 'fw1', failback: { auto: true, holdDownMs: 300 }, vips: BASE_SETTINGS.vips });

    const file = join(c.dir, 'settings.yaml');
    writeFileSync(file, got.stdout.replace('holdDownMs: 300', 'holdDownMs: 400'));
    t.not(readFileSync(file, 'utf8'), got.stdout, 'the test edited the file');
    const applied = await hapair(c, ['config', 'apply', '-f', file], { via: 'wit' });
    t.equal(applied.code, 0, applied.stderr);
    t.equal(applied.stdout, `config applied: revision ${revision + 1}\n`);
    const api = await c.call('fw1', 'GET', '/v1/config?linearizable=true', { token: 'viewer' });
    t.match(api.body, { revision: revision + 1, settings: { failback: { holdDownMs: 400 } } });

    // The sample policy, wrapped as docs/first-cluster.md says.
    const nft = readFileSync(join(ROOT, 'deploy/examples/policy.nft'), 'utf8');
    const policyFile = join(c.dir, 'policy.yaml');
    writeFileSync(policyFile, `ruleset: |\n${nft.split('\n').slice(0, -1).map((l) => `  ${l}`).join('\n')}\n`);
    const policy = await hapair(c, ['policy', 'apply', '-f', policyFile], { via: 'fw2' });
    t.equal(policy.code, 0, policy.stderr);
    t.match(policy.stdout, /^policy applied: revision \d+\n$/);
    const inForce = await c.call('wit', 'GET', '/v1/policy?linearizable=true', { token: 'viewer' });
    t.same(inForce.body?.['policy'], { ruleset: nft }, 'the ruleset is the file, byte for byte');

    // The same file again: its revision comment is stale now.
    const stale = await hapair(c, ['config', 'apply', '-f', file], { via: 'fw2' });
    t.equal(stale.code, 1);
    t.ok(oneLine(stale.stderr), stale.stderr);
    t.match(stale.stderr, /^error: settings changed since revision \d+.*hapair config get.*\(REVISION_CONFLICT\)\n$/);

    const bad = join(c.dir, 'bad.yaml');
    writeFileSync(bad, 'failback: { auto: true, holdDownMs: 5s }\n');
    const invalid = await hapair(c, ['config', 'apply', '-f', bad]);
    t.equal(invalid.code, 1);
    t.ok(oneLine(invalid.stderr), invalid.stderr);
    t.match(invalid.stderr, /failback\.holdDownMs.*\(CONFIG_INVALID\)\n$/);

    const operator = await hapair(c, ['config', 'apply', '-f', file, '--force'], { token: 'operator' });
    t.equal(operator.code, 1, 'an operator may not change the settings');
    t.match(operator.stderr, /needs admin \(FORBIDDEN\)\n$/);
  });

  await t.test('switchover --to fw2 answers once fw2 is active; a refused one exits 1 with a one-line reason', async (t) => {
    await c.waitForActive('fw1');
    const events = follow(c);
    t.teardown(() => events.stop());
    // The stream is open once wit's API counts it; a switchover before that could be missed.
    await c.waitFor('hapair events is connected', async () => {
      const metrics = await c.call('wit', 'GET', '/metrics', { token: 'viewer' });
      const line = metrics.text.split('\n').find((l) => l.startsWith('hapair_api_event_streams'));
      return line !== undefined && Number(line.slice(line.lastIndexOf(' ') + 1)) >= 1;
    });
    const moved = await hapair(c, ['switchover', '--to', 'fw2'], { token: 'operator', via: 'wit' });
    t.equal(moved.code, 0, moved.stderr);
    t.match(moved.stdout, /^switchover done: fw2 is active \(epoch \d+\), previously fw1; took \d+ ms\n$/);
    // Automatic failback (hold-down 400 ms) brings the role back to the preferred fw1.
    const back = await c.waitForActive('fw1');
    t.equal(back.active?.reason, 'failback');
    const line = await c.waitFor('hapair events prints the role change', async () =>
      events.output().split('\n').find((l) => / role +\{.*"active":"fw2".*"reason":"switchover"/.test(l)) ?? null,
    );
    t.match(line, /^\d{4}-\d\d-\d\dT\S+Z role /, 'one line per event: time, type, data');
    t.equal(await events.stop(), 0, 'hapair events exits 0 on Ctrl-C (SIGINT)');

    const refused = await hapair(c, ['switchover', '--to', 'wit'], { token: 'operator' });
    t.equal(refused.code, 1);
    t.equal(refused.stdout, '');
    t.equal(refused.stderr, 'error: cannot switch over to wit: wit is a witness and never holds the active role (SWITCHOVER_REFUSED)\n');

    const json = await hapair(c, ['switchover', '--to', 'ghost', '--json'], { token: 'operator' });
    t.equal(json.code, 1);
    t.same(JSON.parse(json.stderr), { code: 'SWITCHOVER_REFUSED', message: 'cannot switch over to ghost: ghost is not a member' });

    const viewer = await hapair(c, ['switchover', '--to', 'fw2'], { token: 'viewer' });
    t.equal(viewer.code, 1);
    t.match(viewer.stderr, /needs operator \(FORBIDDEN\)\n$/);
  });

  await t.test('maintenance, backups, notes and audit from the command line', async (t) => {
    const on = await hapair(c, ['maintenance', 'fw2', 'on'], { token: 'operator' });
    t.equal(on.code, 0, on.stderr);
    t.equal(on.stdout, 'fw2: maintenance on\n');
    const status = await c.waitFor('fw2 shows as in maintenance', async () => {
      const s = await c.status('fw1');
      return s.members.find((m) => m.id === 'fw2')?.maintenance === true ? s : null;
    });
    t.ok(status.conditions.some((x) => x.code === 'MAINTENANCE' && x.node === 'fw2'), 'with the MAINTENANCE condition');
    const off = await hapair(c, ['maintenance', 'fw2', 'off'], { token: 'operator' });
    t.equal(off.code, 0, off.stderr);

    const created = await hapair(c, ['--json', 'backup', 'create', '--comment', 'cli test'], { via: 'fw2' });
    t.equal(created.code, 0, created.stderr);
    const info = JSON.parse(created.stdout) as { id: string; sha256: string };
    const listed = await hapair(c, ['backup', 'list'], { token: 'viewer', via: 'fw1' });
    t.equal(listed.code, 0, listed.stderr);
    t.match(listed.stdout, info.id);
    const out = join(c.dir, 'backup.json');
    const exported = await hapair(c, ['backup', 'export', info.id, '-o', out], { via: 'fw1' });
    t.equal(exported.code, 0, exported.stderr);
    t.match(JSON.parse(readFileSync(out, 'utf8')), { hapairBackup: 1, id: info.id, sha256: info.sha256 });
    const imported = await hapair(c, ['--json', 'backup', 'import', out]);
    t.equal(imported.code, 0, imported.stderr);
    const copy = JSON.parse(imported.stdout) as { id: string };
    const restored = await hapair(c, ['backup', 'restore', copy.id]);
    t.equal(restored.code, 0, restored.stderr);
    t.match(restored.stdout, new RegExp(`^restored backup ${copy.id}: config revision \\d+\\n$`));

    const note = await hapair(c, ['note', 'cli test was here'], { token: 'operator' });
    t.equal(note.code, 0, note.stderr);
    const audit = await hapair(c, ['--json', 'audit', '--limit', '50'], { token: 'viewer' });
    t.equal(audit.code, 0, audit.stderr);
    const entries = (JSON.parse(audit.stdout) as { entries: Array<{ actor: string; action: string }> }).entries;
    for (const [actor, action] of [
      [TOKEN_NAMES.operator, 'setMaintenance'],
      [TOKEN_NAMES.operator, 'moveIntent'],
      [TOKEN_NAMES.operator, 'addNote'],
      [TOKEN_NAMES.admin, 'setSettings'],
      [TOKEN_NAMES.admin, 'restoreBackup'],
    ] as const) {
      t.ok(entries.some((e) => e.actor === actor && e.action === action), `audit: ${actor} ${action}`);
    }
  });

  await t.test('two new nodes and a witness from cluster.bootstrap: init --settings ends with the setup check (R5, R7)', async (t) => {
    const file = join(c.dir, 'init-settings.yaml');
    writeFileSync(file, stringifyYaml(BASE_SETTINGS));
    const r = await hapair(c, ['init', '--settings', file, '--wait', '20'], { via: 'wit' });
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, new RegExp(`^settings from ${file.replaceAll('/', '\\/')} applied: config revision \\d+\n`));
    t.match(r.stdout, /^setup check passed: 3 members of clitest hold settings revision \d+ and policy revision \d+, every VIP's interface maps to a device$/m);
    for (const id of ['fw1', 'fw2']) t.match(r.stdout, new RegExp(`^  ${id} +data +ok +version \\S+, voter, .*VIPs 192\\.0\\.2\\.1\\/24 on lan -> lan0$`, 'm'));
    t.match(r.stdout, /^ {2}wit +witness +ok +version \S+, voter, settings r\d+, policy r\d+$/m);
    const verify = await hapair(c, ['verify'], { token: 'viewer' });
    t.equal(verify.code, 0, verify.stderr);
  });
});
