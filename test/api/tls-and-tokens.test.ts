/**
 * The tokens file loader (clear errors naming file and key), constant-time
 * authentication, and HTTPS when certificate files are given.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ApiConfigError, buildApiServer } from '../../src/api/server.js';
import { generateToken, hashToken, loadTokensFile, parseTokensFile, TokensFileError } from '../../src/auth/tokens.js';
import { FakeService } from './fake-service.js';
import { TOKEN_STORE, TOKENS } from './harness.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hapair-api-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const HASH = 'a'.repeat(64);

t.test('a valid tokens file loads; tokens authenticate to their name and role', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'tokens.yaml');
  const { token, sha256 } = generateToken();
  t.equal(sha256, hashToken(token));
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  writeFileSync(file, `tokens:\n  - { name: ops, role: admin, sha256: "${sha256.toUpperCase()}" }\n  - { name: view, role: viewer, sha256: "${HASH}" }\n`);
  const store = loadTokensFile(file);
  t.equal(store.size, 2);
  t.same(store.authenticate(token), { name: 'ops', role: 'admin' }, 'upper-case hashes are accepted');
  t.equal(store.authenticate('nope'), null);
  t.equal(store.authenticate(''), null);
  t.equal(store.authenticate('x'.repeat(5000)), null, 'over-long tokens are refused before hashing');
  t.same(TOKEN_STORE.authenticate(TOKENS.operator), { name: 'oncall', role: 'operator' });
});

t.test('tokens file errors name the file and the key', async (t) => {
  const f = 'tokens.yaml';
  const cases: Array<[string, string]> = [
    ['tokens: [', `${f}: invalid YAML at line 1: `],
    ['- a', `${f}: must be a mapping with a "tokens" list, got a list`],
    ['tokens: {}', `${f}: tokens: must be a list, got a mapping`],
    ['tokenz: []', `${f}: tokenz: unknown key (the file has only "tokens")`],
    ['tokens: [3]', `${f}: tokens[0]: must be a mapping {name, role, sha256}, got 3`],
    [`tokens: [{ name: ops, role: root, sha256: "${HASH}" }]`, `${f}: tokens[0].role: must be one of viewer, operator, admin, got "root"`],
    [`tokens: [{ role: admin, sha256: "${HASH}" }]`, `${f}: tokens[0].name: must be 1-64 letters`],
    [`tokens: [{ name: ops, role: admin, sha256: "${HASH}", token: x }]`, `${f}: tokens[0].token: unknown key (expected name, role, sha256)`],
    ['tokens: [{ name: ops, role: admin, sha256: "hunter2-plain-token" }]', `${f}: tokens[0].sha256: must be the 64 hex digits of the token's SHA-256`],
    [
      `tokens: [{ name: ops, role: admin, sha256: "${HASH}" }, { name: ops, role: viewer, sha256: "${'b'.repeat(64)}" }]`,
      `${f}: tokens[1].name: duplicate name "ops"`,
    ],
    [
      `tokens: [{ name: a, role: admin, sha256: "${HASH}" }, { name: b, role: viewer, sha256: "${HASH.toUpperCase()}" }]`,
      `${f}: tokens[1].sha256: the same hash appears twice`,
    ],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseTokensFile(text, f), TokensFileError, text);
    try {
      parseTokensFile(text, f);
    } catch (error) {
      t.ok((error as Error).message.startsWith(message), `${text.slice(0, 50)} -> ${(error as Error).message}`);
      t.notOk((error as Error).message.includes('hunter2'), 'a pasted token is never echoed');
    }
  }
  t.throws(() => loadTokensFile('/nonexistent/tokens.yaml'), { message: '/nonexistent/tokens.yaml: file not found' });
});

t.test('HTTPS when certificate files are given; a missing file is a clear error', async (t) => {
  const dir = tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  t.throws(() => buildApiServer({ service: new FakeService(), tokens: TOKEN_STORE, tls: { certFile: join(dir, 'nope.pem'), keyFile: key } }), ApiConfigError);
  t.throws(
    () => buildApiServer({ service: new FakeService(), tokens: TOKEN_STORE, tls: { certFile: join(dir, 'nope.pem'), keyFile: key } }),
    { message: `api.tls.certFile: cannot read ${join(dir, 'nope.pem')} (file not found)` },
  );

  const app = buildApiServer({ service: new FakeService(), tokens: TOKEN_STORE, tls: { certFile: cert, keyFile: key } });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  t.match(address, /^https:\/\/127\.0\.0\.1:\d+$/);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${address}/v1/status`,
      { ca: readFileSync(cert), headers: { authorization: `Bearer ${TOKENS.viewer}` } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 200);
  t.equal((JSON.parse(body) as { node: string }).node, 'fw1');
});
