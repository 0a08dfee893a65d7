/**
 * The remaining CLI commands, run in-process through runCli (same code as the
 * binary, faster than a child per command) against a real API server.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadTokensFile } from '../../src/auth/tokens.js';
import { runCli } from '../../src/cli/program.js';
import { FakeService, SINCE } from '../api/fake-service.js';
import { startApi, TOKENS, type Harness } from '../api/harness.js';

interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(h: Harness | null, args: readonly string[], token: string | null = TOKENS.admin, interrupted?: () => Promise<void>): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const env: Record<string, string> = {};
  if (h !== null) env['HAPAIR_API'] = h.url;
  if (token !== null) env['HAPAIR_TOKEN'] = token;
  const code = await runCli(args, {
    out: (s) => (stdout += s),
    err: (s) => (stderr += s),
    env,
    stdoutIsTty: false,
    ...(interrupted === undefined ? {} : { interrupted }),
  });
  return { code, stdout, stderr };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hapair-cli-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('config get prints YAML with the revision comment that apply reads back', async (t) => {
  const h = await startApi(t);
  const dir = tempDir(t);
  const got = await cli(h, ['config', 'get'], TOKENS.viewer);
  t.equal(got.code, 0);
  t.equal(got.stdout, '# hapair config\n# revision: 3\nvips: []\npreferred: fw1\nfailback:\n  auto: true\n  holdDownMs: 5000\n');
  const file = join(dir, 'c.yaml');
  writeFileSync(file, got.stdout.replace('preferred: fw1', 'preferred: fw2'));
  const applied = await cli(h, ['config', 'apply', '-f', file]);
  t.equal(applied.code, 0, applied.stderr);
  t.same(h.service.lastCall('putConfig')?.args, [{ vips: [], preferred: 'fw2', failback: { auto: true, holdDownMs: 5000 } }, 3]);

  writeFileSync(file, 'preferred: fw1\n');
  const noComment = await cli(h, ['config', 'apply', '-f', file]);
  t.equal(noComment.code, 0);
  t.equal(h.service.lastCall('putConfig')?.args[1], 4, 'without a revision comment, the current revision is used');
  const explicit = await cli(h, ['config', 'apply', '-f', file, '--if-match', '2']);
  t.equal(explicit.code, 1);
  t.match(explicit.stderr, /REVISION_CONFLICT/);
  t.equal(h.service.lastCall('putConfig')?.args[1], 2);

  writeFileSync(file, '- just\n- a list\n');
  const list = await cli(h, ['config', 'apply', '-f', file]);
  t.equal(list.code, 1);
  t.equal(list.stderr, `error: ${file}: must be a YAML mapping (key: value lines), got a list\n`);
  writeFileSync(file, 'a: [\n');
  const broken = await cli(h, ['config', 'apply', '-f', file]);
  t.equal(broken.code, 1);
  t.match(broken.stderr, new RegExp(`^error: ${file}: invalid YAML at line \\d+: `));

  const json = await cli(h, ['--json', 'config', 'get']);
  t.match(JSON.parse(json.stdout), { revision: 5, settings: { preferred: 'fw1' } });
});

t.test('policy get and apply', async (t) => {
  const h = await startApi(t);
  const dir = tempDir(t);
  const got = await cli(h, ['policy', 'get'], TOKENS.viewer);
  t.equal(got.stdout, '# hapair policy\n# revision: 1\nrules: []\n');
  const file = join(dir, 'p.yaml');
  writeFileSync(file, '# revision: 1\nrules:\n  - { action: accept, from: lan, to: wan, port: 443 }\n');
  const r = await cli(h, ['policy', 'apply', '-f', file]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'policy applied: revision 2\n');
  t.same(h.service.lastCall('putPolicy')?.args, [{ rules: [{ action: 'accept', from: 'lan', to: 'wan', port: 443 }] }, 1]);
});

t.test('switchover and maintenance', async (t) => {
  const h = await startApi(t);
  const sw = await cli(h, ['switchover', '--to', 'fw2', '--force'], TOKENS.operator);
  t.equal(sw.code, 0);
  t.equal(sw.stdout, 'switchover done: fw2 is active (epoch 5), previously fw1; took 42 ms\n');
  t.same(h.service.lastCall('switchover')?.args, [{ to: 'fw2', force: true }]);
  await cli(h, ['switchover'], TOKENS.operator);
  t.same(h.service.lastCall('switchover')?.args, [{}]);
  const on = await cli(h, ['maintenance', 'fw2', 'on'], TOKENS.operator);
  t.equal(on.stdout, 'fw2: maintenance on\n');
  const off = await cli(h, ['--json', 'maintenance', 'fw2', 'off'], TOKENS.operator);
  t.same(JSON.parse(off.stdout), { id: 'fw2', maintenance: false });
  const status = await cli(h, ['status'], TOKENS.viewer);
  t.match(status.stdout, /^ {2}fw2 .* off$/m);
});

t.test('backup create, list, export, import, restore', async (t) => {
  const h = await startApi(t);
  const dir = tempDir(t);
  const created = await cli(h, ['backup', 'create', '--comment', 'before upgrade']);
  t.equal(created.code, 0);
  t.match(created.stdout, /^backup b1 created \(config revision 3, \d+ bytes\)\n$/);
  const list = await cli(h, ['backup', 'list'], TOKENS.viewer);
  t.match(list.stdout, /^ {2}ID +CREATED +BY +CONFIG REV +SIZE +COMMENT\n {2}b1 +2026-11-25T10:00:00\.000Z +ops +3 +\d+ B +before upgrade\n$/);
  const file = join(dir, 'b1.bin');
  const exported = await cli(h, ['backup', 'export', 'b1', '-o', file]);
  t.equal(exported.code, 0, exported.stderr);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { settings: h.service.settings, policy: h.service.policy });
  t.equal(statSync(file).mode & 0o777, 0o600, 'backups are written private');
  const again = await cli(h, ['backup', 'export', 'b1', '-o', file]);
  t.equal(again.code, 1);
  t.equal(again.stderr, `error: ${file} exists (use --overwrite)\n`);
  const imported = await cli(h, ['backup', 'import', file]);
  t.equal(imported.stdout, `imported ${file} as backup b2\n`);
  t.same(Buffer.from(h.service.lastCall('importBackup')?.args[0] as Uint8Array), readFileSync(file));
  const restored = await cli(h, ['backup', 'restore', 'b2']);
  t.equal(restored.stdout, 'restored backup b2: config revision 4\n');
  const missing = await cli(h, ['backup', 'restore', 'b9']);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'error: no backup b9 (BACKUP_NOT_FOUND)\n');
  const empty = await cli(h, ['--json', 'backup', 'list']);
  t.equal((JSON.parse(empty.stdout) as { backups: unknown[] }).backups.length, 2);
});

t.test('join asks the new node who it is, checks it first, adds it and waits until it holds the state; leave', async (t) => {
  const h = await startApi(t);
  const n = await startApi(t, { service: new FakeService('fw3') });
  const hostPort = (url: string): string => new URL(url).host;
  const fw1 = h.service.info;
  // The cluster's status names each member's API, so the CLI can ask the leader (fw1 here) what it holds.
  const status = await h.service.status({ linearizable: false });
  h.service.statusExtra = {
    members: status.members.map((m) => ({ ...m, peer: `10.0.0.${m.id === 'wit' ? 13 : m.id === 'fw1' ? 11 : 12}:7400`, api: m.id === 'fw1' ? hostPort(h.url) : null })),
  };
  const seeds = [
    { id: 'fw1', peer: '10.0.0.11:7400' },
    { id: 'fw2', peer: '10.0.0.12:7400' },
    { id: 'wit', peer: '10.0.0.13:7400' },
  ];
  const fresh = { ...n.service.info, membership: 'none' as const, peer: '10.0.0.14:7400', api: hostPort(n.url), join: seeds, configRevision: 0, settingsSha256: 'c'.repeat(64) };

  n.service.info = { ...fresh, version: '0.1.0' };
  const old = await cli(h, ['join', '--node-api', n.url]);
  t.equal(old.code, 1);
  t.equal(old.stderr, 'error: fw3 runs version 0.1.0; the cluster runs 0.3.0: install 0.3.0 on fw3 first (R5) (VERSION_MISMATCH)\n');
  n.service.info = { ...fresh, cluster: 'lab' };
  const other = await cli(h, ['join', '--node-api', n.url]);
  t.equal(other.stderr, 'error: fw3\'s node config names cluster "lab", but the cluster at --api is "edge"\n');
  n.service.info = { ...fresh, join: [seeds[0] as { id: string; peer: string }, { id: 'wit', peer: '10.0.0.99:7400' }] };
  const seedless = await cli(h, ['join', '--node-api', n.url]);
  t.equal(
    seedless.stderr,
    'error: fw3 could not answer the leader before it is a member: cluster.join in its node config must list every member of the running cluster ' +
      '(add { id: fw2, peer: 10.0.0.12:7400 }; wit is at 10.0.0.13:7400, not 10.0.0.99:7400); fix it and restart its agent\n',
  );
  n.service.info = { ...fresh, membership: 'voter' };
  const foreign = await cli(h, ['join', '--node-api', n.url]);
  t.match(foreign.stderr, /^error: fw3 already belongs to a cluster of its own/);
  const nowhere = await cli(h, ['join', '--node-api', '127.0.0.1:9']);
  t.match(nowhere.stderr, /^error: cannot reach the new node's API: .*127\.0\.0\.1:9.* \(is its agent running\?\)\n$/);
  t.equal(h.service.lastCall('join'), undefined, 'nothing was added while a check failed');

  // The join: the fake cluster "transfers" fw1's state to fw3 when it adds it.
  n.service.info = fresh;
  const join = h.service.join.bind(h.service);
  h.service.join = async (request, principal) => {
    const result = await join(request, principal);
    n.service.info = { ...fresh, membership: 'voter', configRevision: fw1.configRevision, settingsSha256: fw1.settingsSha256 };
    return result;
  };
  const joined = await cli(h, ['join', '--node-api', n.url, '--no-verify', '--wait', '5']);
  t.equal(joined.code, 0, joined.stderr);
  t.equal(joined.stdout, 'fw3 joined; members: fw1 (data), fw2 (data), wit (witness), fw3 (data)\n');
  t.same(h.service.lastCall('join')?.args, [{ id: 'fw3', kind: 'data', peer: '10.0.0.14:7400', api: hostPort(n.url), version: '0.3.0' }]);

  const leave = await cli(h, ['leave', 'fw3', '--no-verify']);
  t.equal(leave.code, 0, leave.stderr);
  t.equal(leave.stdout, 'fw3 left; members: fw1 (data), fw2 (data), wit (witness)\n');
});

t.test('init needs --tokens-file or --settings; --settings alone uses the given token', async (t) => {
  const neither = await cli(null, ['init']);
  t.equal(neither.code, 2);
  t.equal(neither.stderr, 'error: give --tokens-file, --settings or both (USAGE)\n');
  const h = await startApi(t);
  const dir = tempDir(t);
  const file = join(dir, 'settings.yaml');
  writeFileSync(file, 'preferred: fw2\n');
  const r = await cli(h, ['init', '--settings', file, '--no-verify']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `settings from ${file} applied: config revision 4\n`);
  t.same(h.service.lastCall('putConfig')?.args, [{ preferred: 'fw2' }, 3]);
  t.equal(h.service.lastCall('putConfig')?.principal?.name, 'ops', 'with the admin token from HAPAIR_TOKEN');
});

t.test('audit', async (t) => {
  const h = await startApi(t);
  h.service.auditEntries = [{ index: 12, at: SINCE, actor: 'ops', action: 'config.put', detail: 'revision 4', outcome: 'ok' }];
  const r = await cli(h, ['audit', '--limit', '5'], TOKENS.viewer);
  t.equal(r.code, 0);
  t.match(r.stdout, /^ {2}INDEX +AT +ACTOR +ACTION +OUTCOME +DETAIL\n {2}12 +2026-11-25T10:00:00\.000Z +ops +config\.put +ok +revision 4\n$/);
  t.same(h.service.lastCall('audit')?.args, [5]);
});

t.test('init writes a token hash to the tokens file and prints the token once', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'tokens.yaml');
  const r = await cli(null, ['--json', 'init', '--tokens-file', file, '--name', 'ops']);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { token: string; name: string; role: string };
  t.equal(out.role, 'admin');
  t.same(loadTokensFile(file).authenticate(out.token), { name: 'ops', role: 'admin' });
  t.notOk(readFileSync(file, 'utf8').includes(out.token), 'the token itself is not stored');
  t.equal(statSync(file).mode & 0o777, 0o600);
  const second = await cli(null, ['init', '--tokens-file', file, '--name', 'watch', '--role', 'viewer']);
  t.equal(second.code, 0);
  const token2 = /HAPAIR_TOKEN=(\S+)/.exec(second.stdout)?.[1] ?? '';
  const store = loadTokensFile(file);
  t.equal(store.size, 2);
  t.same(store.authenticate(token2), { name: 'watch', role: 'viewer' });
  const dup = await cli(null, ['init', '--tokens-file', file, '--name', 'ops']);
  t.equal(dup.code, 1);
  t.equal(dup.stderr, `error: ${file}: a token named "ops" exists already (choose another --name)\n`);
  const badRole = await cli(null, ['init', '--tokens-file', file, '--role', 'root']);
  t.equal(badRole.code, 2);
});

t.test('events prints the stream until interrupted', async (t) => {
  const h = await startApi(t);
  let stdout = '';
  let interrupt = (): void => {};
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const running = runCli(['--json', 'events'], {
    out: (s) => (stdout += s),
    err: (s) => (stdout += `ERR ${s}`),
    env: { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.viewer },
    stdoutIsTty: false,
    interrupted: () => interrupted,
  });
  const until = async (what: () => boolean): Promise<boolean> => {
    const deadline = Date.now() + 10_000;
    while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return what();
  };
  t.ok(await until(() => h.service.listeners.size === 1), 'the CLI subscribed');
  const event = { type: 'leader' as const, at: SINCE, leader: 'fw2', term: 8 };
  h.service.emit(event);
  h.service.emit({ ...event, term: 9 });
  t.ok(await until(() => stdout.split('\n').length >= 3), 'both events printed');
  t.same(stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), [event, { ...event, term: 9 }]);
  interrupt();
  t.equal(await running, 0, 'Ctrl-C ends it with exit 0');
  t.ok(await until(() => h.service.listeners.size === 0), 'and the server side is released');
});

t.test('an --api that is not a URL is a usage error', async (t) => {
  const r = await cli(null, ['--api', 'ftp://x', 'status']);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'error: --api: not an http(s) URL or host:port: "ftp://x" (USAGE)\n');
});

t.test('note commits a note and says how many there are', async (t) => {
  const h = await startApi(t);
  const r = await cli(h, ['note', 'replaced the cable on fw2'], TOKENS.operator);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'note committed (1 in all)\n');
  t.match(h.service.lastCall('addNote')?.args, ['replaced the cable on fw2', { role: 'operator' }]);
  const denied = await cli(h, ['note', 'x'], TOKENS.viewer);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /FORBIDDEN/);
});
