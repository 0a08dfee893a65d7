/**
 * The CLI as a child process (`node --import tsx src/cli/main.ts ...`)
 * against a real API server over a FakeService: output, exit codes, and
 * one-line errors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../../src/util/free-port.js';
import { startApi, TOKENS } from '../api/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function hapair(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', NO_COLOR: '1', ...env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** One line, ending in a newline, with no stack trace. */
function isOneLine(stderr: string): boolean {
  return stderr.endsWith('\n') && stderr.trimEnd().split('\n').length === 1 && !/\n\s+at /.test(stderr);
}

t.test('status: human output like pcs status, and --json', async (t) => {
  const h = await startApi(t);
  const env = { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.viewer };
  const human = await hapair(['status'], env);
  t.equal(human.code, 0, human.stderr);
  t.equal(human.stderr, '');
  const out = human.stdout;
  t.match(out, /^Cluster: edge\n/);
  t.match(out, /answered by fw1; leader fw1 \(term 7\); config revision 3/);
  t.match(out, /local read at index 120, leader last heard 0 ms ago/);
  t.match(out, /^Active: fw1 since 2026-11-25T10:00:00\.000Z \(.+ ago\), epoch 4, reason: failback$/m);
  t.match(out, /^ {2}NODE +KIND +ROLE +REACHABLE +HEALTH +VERSION +APPLIED +LAG +MAINTENANCE$/m);
  t.match(out, /^ {2}fw1 \* +data +active +yes +healthy +0\.3\.0 +120 +0 +off$/m);
  t.match(out, /^ {2}fw2 +data +standby +yes +degraded +0\.3\.0 +118 +2 +off$/m);
  t.match(out, /^ {2}wit +witness +witness +NO +unknown +- +90 +30 +off$/m);
  t.match(out, /^Conditions \(2\):\n {2}CRITICAL +PEER_UNREACHABLE: wit has not answered for 12 s\n {2}WARNING +MONITOR_DOWN: /m);
  t.notOk(out.includes('\u001b['), 'no colour codes when stdout is not a terminal');

  const json = await hapair(['status', '--json'], env);
  t.equal(json.code, 0);
  const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
  const expected = await (await fetch(`${h.url}/v1/status`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).json();
  t.same(parsed, expected, '--json prints what GET /v1/status returns');

  const flags = await hapair(['--api', h.url, '--token', TOKENS.viewer, 'status', '--linearizable']);
  t.equal(flags.code, 0, '--api and --token work like the environment');
  t.same(h.service.lastCall('status')?.args, [{ linearizable: true }]);
});

t.test('config apply reads YAML, sends JSON with If-Match, prints the new revision', async (t) => {
  const h = await startApi(t);
  const dir = mkdtempSync(join(tmpdir(), 'hapair-cli-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'settings.yaml');
  writeFileSync(
    file,
    [
      '# hapair config',
      '# revision: 3',
      'vips:',
      '  - { address: 10.0.0.1/24, interface: lan }',
      'preferred: fw1',
      'failback: { auto: true, holdDownMs: 5000 }',
      'monitors:',
      '  - { name: upstream, kind: ping, target: 10.0.0.254, intervalMs: 500, failAfter: 3, recoverAfter: 3 }',
      '',
    ].join('\n'),
  );
  const env = { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.admin };
  const r = await hapair(['config', 'apply', '-f', file], env);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'config applied: revision 4\n');
  const call = h.service.lastCall('putConfig');
  t.same(call?.args, [
    {
      vips: [{ address: '10.0.0.1/24', interface: 'lan' }],
      preferred: 'fw1',
      failback: { auto: true, holdDownMs: 5000 },
      monitors: [{ name: 'upstream', kind: 'ping', target: '10.0.0.254', intervalMs: 500, failAfter: 3, recoverAfter: 3 }],
    },
    3,
  ]);

  const stale = await hapair(['config', 'apply', '-f', file], env);
  t.equal(stale.code, 1, 'the file is based on revision 3, now stale');
  t.ok(isOneLine(stale.stderr), `one line on stderr: ${stale.stderr}`);
  t.match(stale.stderr, /^error: config revision is 4, not 3; run `hapair config get`.* \(REVISION_CONFLICT\)\n$/);

  const forced = await hapair(['config', 'apply', '-f', file, '--force'], env);
  t.equal(forced.code, 0, forced.stderr);
  t.equal(h.service.lastCall('putConfig')?.args[1], null, '--force sends no If-Match');

  const invalid = join(dir, 'bad.yaml');
  writeFileSync(invalid, 'preferred: 5\n');
  const refused = await hapair(['config', 'apply', '-f', invalid, '--force'], env);
  t.equal(refused.code, 1);
  t.equal(refused.stderr, 'error: preferred: must be a node id, got 5 (CONFIG_INVALID)\n');

  const missing = await hapair(['config', 'apply', '-f', join(dir, 'nope.yaml')], env);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, `error: cannot read ${join(dir, 'nope.yaml')}: file not found\n`);
});

t.test('an unreachable API: exit 1 with one line naming it', async (t) => {
  const port = await freePort();
  const r = await hapair(['status'], { HAPAIR_API: `http://127.0.0.1:${port}`, HAPAIR_TOKEN: 'x' });
  t.equal(r.code, 1);
  t.ok(isOneLine(r.stderr), `one line on stderr: ${r.stderr}`);
  t.match(r.stderr, new RegExp(`^error: cannot reach the hapair API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  t.equal(r.stdout, '');
});

t.test('refusals and auth failures: exit 1, one line', async (t) => {
  const h = await startApi(t);
  const refused = await hapair(['switchover', '--to', 'wit'], { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.operator });
  t.equal(refused.code, 1);
  t.equal(refused.stderr, 'error: wit is a witness and never takes the active role (SWITCHOVER_REFUSED)\n');
  const json = await hapair(['--json', 'switchover', '--to', 'wit'], { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.operator });
  t.equal(json.code, 1);
  t.same(JSON.parse(json.stderr), { code: 'SWITCHOVER_REFUSED', message: 'wit is a witness and never takes the active role' });
  const noToken = await hapair(['status'], { HAPAIR_API: h.url });
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /^error: missing bearer token: .*; give a token with --token or HAPAIR_TOKEN \(UNAUTHENTICATED\)\n$/);
  const viewer = await hapair(['maintenance', 'fw2', 'on'], { HAPAIR_API: h.url, HAPAIR_TOKEN: TOKENS.viewer });
  t.equal(viewer.code, 1);
  t.match(viewer.stderr, /\(FORBIDDEN\)\n$/);
});

t.test('bad usage: exit 2 with a one-line message; --help exits 0', async (t) => {
  const cases: string[][] = [
    ['bogus'],
    ['maintenance', 'fw2', 'maybe'],
    ['maintenance', 'fw2'],
    ['config', 'apply'],
    ['status', '--nope'],
    ['audit', '--limit', 'zero'],
    ['config', 'apply', '-f', 'x.yaml', '--force', '--if-match', '3'],
    [],
  ];
  for (const args of cases) {
    const r = await hapair(args, { HAPAIR_API: 'http://127.0.0.1:9' });
    t.equal(r.code, 2, `hapair ${args.join(' ')}: ${r.stderr.split('\n')[0] ?? ''}`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    if (args.length > 0) t.ok(isOneLine(r.stderr), `one line on stderr: ${r.stderr}`);
  }
  const help = await hapair(['--help']);
  t.equal(help.code, 0);
  for (const command of ['status', 'switchover', 'maintenance', 'config', 'policy', 'backup', 'init', 'join', 'leave', 'demo', 'agent']) {
    t.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help lists ${command}`);
  }
});
