/**
 * `hapair agent --config FILE` with a broken node config (issue 6): a typo'd
 * key, a wrong type, a missing file, a bad address, broken YAML, a broken
 * tokens file. Each must exit non-zero by itself with one line on stderr
 * naming the file and the key, and no stack trace.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort } from '../../src/util/free-port.js';
import { CLI_MAIN, ROOT } from './harness.js';

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

function agent(configFile: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI_MAIN, 'agent', '--config', configFile],
      { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1' }, timeout: 30_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, signal: error?.signal ?? null, stdout, stderr });
      },
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), 'hapair-config-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function goodConfig(): Promise<string> {
  const peer = await freePort();
  const api = await freePort();
  return [
    'node:',
    '  id: fw1',
    '  kind: data',
    `  dataDir: ${join(dir, 'data')}`,
    'peer:',
    `  listen: 127.0.0.1:${peer}`,
    'api:',
    `  listen: 127.0.0.1:${api}`,
    `  tokensFile: ${join(dir, 'tokens.yaml')}`,
    'cluster:',
    '  name: edge',
    '  bootstrap:',
    `    - { id: fw1, peer: 127.0.0.1:${peer}, api: 127.0.0.1:${api}, kind: data }`,
    'network:',
    '  driver: sim',
    'log:',
    '  level: warn',
    '',
  ].join('\n');
}

const lines: string[] = [];

/** Exit 1 by itself, nothing on stdout, one line on stderr naming the file and the key, no stack trace. */
function refusedStart(t: Test, run: Run, file: string, key: string, problem: RegExp): void {
  t.equal(run.signal, null, 'the agent exited by itself (not killed by the test timeout)');
  t.equal(run.code, 1, 'exit code 1');
  t.equal(run.stdout, '', 'nothing on stdout');
  t.ok(run.stderr.endsWith('\n') && run.stderr.trimEnd().split('\n').length === 1, `one line on stderr: ${JSON.stringify(run.stderr)}`);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  t.ok(run.stderr.includes(file), `names the file ${file}`);
  if (key !== '') t.ok(run.stderr.includes(`${key}: `), `names the key ${key}`);
  t.match(run.stderr, problem);
  lines.push(run.stderr);
}

t.test('an unknown (typo\'d) key', async (t) => {
  const file = join(dir, 'typo.yaml');
  writeFileSync(file, (await goodConfig()).replace('  kind: data\n', '  kind: data\n  colour: blue\n'));
  refusedStart(t, await agent(file), file, 'node.colour', /unknown key/);
});

t.test('a wrong type', async (t) => {
  const file = join(dir, 'type.yaml');
  writeFileSync(file, (await goodConfig()).replace(/ {2}listen: 127\.0\.0\.1:\d+\napi:/, '  listen: 7400\napi:'));
  refusedStart(t, await agent(file), file, 'peer.listen', /got 7400/);
});

t.test('a missing file', async (t) => {
  const file = join(dir, 'nowhere.yaml');
  refusedStart(t, await agent(file), file, '', /file not found/);
});

t.test('a bad address', async (t) => {
  const file = join(dir, 'address.yaml');
  writeFileSync(file, (await goodConfig()).replace(/ {2}listen: 127\.0\.0\.1:\d+\n {2}tokensFile/, '  listen: 127.0.0.1:99999\n  tokensFile'));
  refusedStart(t, await agent(file), file, 'api.listen', /port must be 1-65535, got "99999"/);
});

t.test('broken YAML names the line', async (t) => {
  const file = join(dir, 'yaml.yaml');
  writeFileSync(file, (await goodConfig()).replace('  kind: data\n', '  kind: [data\n'));
  refusedStart(t, await agent(file), file, '', /invalid YAML at line \d+/);
});

t.test('a tokens file with a bad role names that file and the key', async (t) => {
  const file = join(dir, 'tokens-bad.yaml');
  const tokensFile = join(dir, 'tokens.yaml');
  writeFileSync(tokensFile, `tokens:\n  - { name: ops, role: root, sha256: "${'ab'.repeat(32)}" }\n`);
  writeFileSync(file, await goodConfig());
  refusedStart(t, await agent(file), tokensFile, 'tokens[0].role', /must be one of viewer, operator, admin, got "root"/);
});

t.test('a start error is reported as the operator\'s to fix, not as an internal failure', async (t) => {
  t.ok(lines.length > 0, 'the cases above ran');
  for (const line of lines) {
    t.notMatch(line, /unexpected failure|\(INTERNAL\)|HAPAIR_DEBUG/, `not dressed up as a crash: ${line.trimEnd()}`);
  }
});
