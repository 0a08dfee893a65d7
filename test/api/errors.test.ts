/**
 * Every error is `{ code, message }`: unknown routes, validation, malformed
 * JSON, service errors (each registry code with its status), bugs; and the
 * log never shows a token.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { ERROR_CODES, ServiceError, type ErrorCode } from '../../src/api/errors.js';
import { FakeService } from './fake-service.js';
import { startApi, TOKENS } from './harness.js';

t.test('unknown routes and methods answer 404 NOT_FOUND as JSON, without asking for a token', async (t) => {
  const h = await startApi(t);
  for (const [method, path] of [
    ['GET', '/v1/nope'],
    ['PATCH', '/v1/config'],
    ['GET', '/'],
  ] as const) {
    const r = await h.call(method, path, { token: null });
    t.equal(r.status, 404, `${method} ${path}`);
    t.same(r.body, { code: 'NOT_FOUND', message: `no route ${method} ${path} (the routes are listed at /v1/openapi.json)` });
  }
});

t.test('validation errors name the field, the problem and the value', async (t) => {
  const h = await startApi(t);
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/v1/switchover', { to: 5 }, 'body.to: must be a string, got 5'],
    ['POST', '/v1/switchover', { force: 'yes' }, 'body.force: must be true or false, got "yes"'],
    ['POST', '/v1/switchover', { to: 'fw2', extra: 1 }, 'body.extra: is not a known field'],
    ['POST', '/v1/switchover', { to: '' }, 'body.to: must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit, got ""'],
    ['PUT', '/v1/members/fw2/maintenance', { on: 'true' }, 'body.on: must be true or false, got "true"'],
    ['PUT', '/v1/members/fw2/maintenance', {}, 'body.on: is required'],
    ['POST', '/v1/backups', { comment: 'x'.repeat(1025) }, `body.comment: must be at most 1024 characters, got "${'x'.repeat(76)}...`],
    ['POST', '/v1/members', { id: 'fw3', kind: 'data', peer: 1, api: 2 }, 'body.peer: must be a string, got 1; body.api: must be a string, got 2'],
  ];
  for (const [method, path, json, message] of cases) {
    const r = await h.call(method, path, { json });
    t.equal(r.status, 400, `${method} ${path} ${JSON.stringify(json).slice(0, 40)}`);
    t.same(r.body, { code: 'BAD_REQUEST', message });
  }
  const q = await h.call('GET', '/v1/status?linearizable=maybe');
  t.same(q.body, { code: 'BAD_REQUEST', message: 'query.linearizable: must be true or false, got "maybe"' });
  t.equal(h.service.calls.length, 0, 'invalid requests never reach the service');
});

t.test('malformed JSON, empty JSON and prototype keys are MALFORMED_JSON', async (t) => {
  const h = await startApi(t);
  const json = { 'content-type': 'application/json' };
  const bad = await h.call('POST', '/v1/switchover', { body: '{"to": ', headers: json });
  t.equal(bad.status, 400);
  t.equal(bad.body?.['code'], 'MALFORMED_JSON');
  t.match(bad.body?.['message'], /^body: malformed JSON: /);
  const empty = await h.call('PUT', '/v1/config', { body: '', headers: json });
  t.same(empty.body, { code: 'MALFORMED_JSON', message: 'body: is empty, but Content-Type says application/json' });
  const proto = await h.call('PUT', '/v1/config', { body: '{"__proto__": {"admin": true}}', headers: json });
  t.same(proto.body, { code: 'MALFORMED_JSON', message: 'body: the key "__proto__" is not allowed' });
  const text = await h.call('PUT', '/v1/config', { body: 'vips: []', headers: { 'content-type': 'text/yaml' } });
  t.equal(text.status, 415);
  t.same(text.body, {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'headers.content-type: "text/yaml" is not accepted by this route (send application/json)',
  });
  t.equal(h.service.calls.length, 0);
});

t.test('every registry code thrown by the service answers its HTTP status and the message', async (t) => {
  const h = await startApi(t);
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    h.service.failures.set('switchover', new ServiceError(code, `because ${code}`));
    const r = await h.call('POST', '/v1/switchover', { json: {} });
    t.equal(r.status, ERROR_CODES[code].httpStatus, code);
    t.same(r.body, { code, message: `because ${code}` });
  }
  h.service.failures.set('status', new ServiceError('NOT_LEADER', 'custom status', { httpStatus: 421 }));
  const custom = await h.call('GET', '/v1/status');
  t.equal(custom.status, 421, 'a ServiceError may carry its own status');
});

t.test('a bug in the service is INTERNAL, logged, and does not leak its message', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const h = await startApi(t, { logger });
  h.service.failures.set('getConfig', new TypeError('cannot read properties of undefined (secret internals)'));
  const r = await h.call('GET', '/v1/config');
  t.equal(r.status, 500);
  t.same(r.body, { code: 'INTERNAL', message: 'internal error (see the server log)' });
  t.ok(lines.some((l) => l.includes('secret internals') && l.includes('internal error')), 'the cause is in the log');
});

t.test('a response that does not match its schema is INTERNAL, not a half-written body', async (t) => {
  const service = new FakeService();
  service.getPolicy = async () => ({ policy: {} }) as never;
  const h = await startApi(t, { service });
  const r = await h.call('GET', '/v1/policy');
  t.equal(r.status, 500);
  t.equal(r.body?.['code'], 'INTERNAL');
});

t.test('tokens never appear in the logs', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const h = await startApi(t, { logger: pino({ level: 'trace' }, sink) });
  h.service.failures.set('putConfig', new Error('boom'));
  await h.call('GET', '/v1/status', { token: 'viewer' });
  await h.call('PUT', '/v1/config', { json: {}, token: 'admin' });
  await h.call('PUT', '/v1/config', { json: {}, token: 'viewer' });
  await h.call('GET', '/v1/status', { token: { raw: 'wrong-secret-token' } });
  await h.call('GET', '/v1/nope', { token: 'operator' });
  t.ok(lines.length >= 5, 'requests are logged');
  const all = lines.join('');
  for (const secret of [...Object.values(TOKENS), 'wrong-secret-token']) {
    t.notOk(all.includes(secret), `the log does not contain ${secret.slice(0, 4)}...`);
  }
});

t.test('docs/api.md lists every error code with its HTTP status', async (t) => {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  for (const [code, { httpStatus }] of Object.entries(ERROR_CODES)) {
    t.match(doc, new RegExp(`^\\| \`${code}\` \\| ${httpStatus} \\|`, 'm'), code);
  }
});
