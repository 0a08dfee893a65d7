/**
 * Every route over real HTTP against a FakeService: what it calls, what it
 * answers, and which roles may call it.
 */
import t from 'tap';
import { SINCE } from './fake-service.js';
import { startApi, TOKENS, type CallInit } from './harness.js';

t.test('GET /v1/status returns the MISSION shape and passes linearizable through', async (t) => {
  const h = await startApi(t);
  const r = await h.call('GET', '/v1/status', { token: 'viewer' });
  t.equal(r.status, 200);
  t.match(r.body, {
    node: 'fw1',
    cluster: 'edge',
    leader: 'fw1',
    term: 7,
    active: { node: 'fw1', epoch: 4, since: SINCE, reason: 'failback' },
    configRevision: 3,
    read: { linearizable: false },
  });
  const members = r.body?.['members'] as Array<Record<string, unknown>>;
  t.same(
    members.map((m) => [m['id'], m['kind'], m['role'], m['reachable'], m['health'], m['version'], m['appliedIndex'], m['maintenance']]),
    [
      ['fw1', 'data', 'active', true, 'healthy', '0.3.0', 120, false],
      ['fw2', 'data', 'standby', true, 'degraded', '0.3.0', 118, false],
      ['wit', 'witness', 'witness', false, 'unknown', null, 90, false],
    ],
  );
  t.match(r.body?.['conditions'], [{ code: 'PEER_UNREACHABLE', severity: 'critical', message: String }, { code: 'MONITOR_DOWN' }]);
  t.same(h.service.lastCall('status')?.args, [{ linearizable: false }]);

  const lin = await h.call('GET', '/v1/status?linearizable=true', { token: 'viewer' });
  t.equal(lin.status, 200);
  t.same(h.service.lastCall('status')?.args, [{ linearizable: true }]);
  t.match(lin.body, { read: { linearizable: true } });
});

t.test('GET /v1/node answers for this node alone, viewer and up, through its schema', async (t) => {
  const h = await startApi(t);
  h.service.info = { ...h.service.info, check: { ok: false, problems: ['fw1: VIP 10.0.0.1/24 names interface "lan", which ...'], vips: [] } };
  (h.service.info as unknown as Record<string, unknown>)['token'] = 'do-not-leak';
  h.service.leader = { id: 'fw2', url: 'http://127.0.0.1:9' };
  const r = await h.call('GET', '/v1/node', { token: 'viewer' });
  t.equal(r.status, 200, r.text);
  t.match(r.body, { node: 'fw1', kind: 'data', membership: 'voter', raft: { electionTicks: 100, snapshotIndex: 0 }, check: { ok: false, problems: [/names interface "lan"/] } });
  t.notOk(r.text.includes('do-not-leak'), 'only declared fields leave the node');
  t.equal(r.headers.get('x-hapair-forwarded-to'), null, 'never forwarded, though another node leads');
  t.equal((await h.call('GET', '/v1/node', { token: null })).status, 401);
});

t.test('the response schema filters out undeclared fields', async (t) => {
  const h = await startApi(t);
  h.service.statusExtra = { secretKey: 'do-not-leak' };
  const r = await h.call('GET', '/v1/status');
  t.equal(r.status, 200);
  t.notOk(r.text.includes('do-not-leak'), 'an undeclared field never leaves the node');
});

t.test('GET and PUT /v1/config: revision, ETag, If-Match compare-and-set', async (t) => {
  const h = await startApi(t);
  const got = await h.call('GET', '/v1/config', { token: 'viewer' });
  t.equal(got.status, 200);
  t.equal(got.headers.get('etag'), '"3"');
  t.match(got.body, { revision: 3, settings: { preferred: 'fw1' } });

  const settings = { vips: [{ address: '10.0.0.1/24', interface: 'lan' }], preferred: 'fw2' };
  const put = await h.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': '"3"' } });
  t.equal(put.status, 200);
  t.equal(put.headers.get('etag'), '"4"');
  t.match(put.body, { revision: 4, settings, updatedBy: 'ops' });
  const call = h.service.lastCall('putConfig');
  t.same(call?.args, [settings, 3]);
  t.same(call?.principal, { name: 'ops', role: 'admin' }, 'the service learns who did it, by token name');

  const stale = await h.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': '3' } });
  t.equal(stale.status, 412);
  t.same(stale.body, { code: 'REVISION_CONFLICT', message: 'config revision is 4, not 3' });

  const forced = await h.call('PUT', '/v1/config', { json: settings });
  t.equal(forced.status, 200, 'no If-Match: no compare-and-set');
  t.same(h.service.lastCall('putConfig')?.args[1], null);
  const star = await h.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': '*' } });
  t.equal(star.status, 200);
  t.same(h.service.lastCall('putConfig')?.args[1], null);
  const weak = await h.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': 'W/"6"' } });
  t.equal(weak.status, 200);
  t.same(h.service.lastCall('putConfig')?.args[1], 6);

  const invalid = await h.call('PUT', '/v1/config', { json: { preferred: 5 } });
  t.equal(invalid.status, 400);
  t.same(invalid.body, { code: 'CONFIG_INVALID', message: 'preferred: must be a node id, got 5' });

  const array = await h.call('PUT', '/v1/config', { json: [1, 2] });
  t.equal(array.status, 400);
  t.match(array.body, { code: 'BAD_REQUEST', message: /^body: must be an object, got \[1,2\]$/ });
});

t.test('GET and PUT /v1/policy', async (t) => {
  const h = await startApi(t);
  const got = await h.call('GET', '/v1/policy?linearizable=true', { token: 'viewer' });
  t.equal(got.status, 200);
  t.equal(got.headers.get('etag'), '"1"');
  t.same(got.body, { revision: 1, policy: { rules: [] } });
  t.same(h.service.lastCall('getPolicy')?.args, [{ linearizable: true }]);
  const policy = { rules: [{ action: 'accept', from: 'lan', to: 'wan' }] };
  const put = await h.call('PUT', '/v1/policy', { json: policy, headers: { 'if-match': '1' } });
  t.equal(put.status, 200);
  t.same(put.body, { revision: 2, policy });
  const stale = await h.call('PUT', '/v1/policy', { json: policy, headers: { 'if-match': '1' } });
  t.equal(stale.status, 412);
  t.equal(stale.body?.['code'], 'REVISION_CONFLICT');
});

t.test('POST /v1/switchover', async (t) => {
  const h = await startApi(t);
  const r = await h.call('POST', '/v1/switchover', { token: 'operator', json: { to: 'fw2', force: true } });
  t.equal(r.status, 200);
  t.same(r.body, { active: { node: 'fw2', epoch: 5, since: SINCE, reason: 'switchover' }, previous: 'fw1', durationMs: 42 });
  t.same(h.service.lastCall('switchover')?.args, [{ to: 'fw2', force: true }]);

  const empty = await h.call('POST', '/v1/switchover', { token: 'operator' });
  t.equal(empty.status, 200, 'a POST without a body means {}');
  t.same(h.service.lastCall('switchover')?.args, [{}]);

  const refused = await h.call('POST', '/v1/switchover', { token: 'operator', json: { to: 'wit' } });
  t.equal(refused.status, 409);
  t.same(refused.body, { code: 'SWITCHOVER_REFUSED', message: 'wit is a witness and never takes the active role' });
});

t.test('PUT /v1/members/:id/maintenance', async (t) => {
  const h = await startApi(t);
  const on = await h.call('PUT', '/v1/members/fw2/maintenance', { token: 'operator', json: { on: true } });
  t.equal(on.status, 200);
  t.same(on.body, { id: 'fw2', maintenance: true });
  t.same(h.service.lastCall('setMaintenance')?.args, ['fw2', true]);
  const missing = await h.call('PUT', '/v1/members/fw9/maintenance', { token: 'operator', json: { on: false } });
  t.equal(missing.status, 404);
  t.same(missing.body, { code: 'MEMBER_NOT_FOUND', message: 'no member fw9' });
  const noBody = await h.call('PUT', '/v1/members/fw2/maintenance', { token: 'operator' });
  t.equal(noBody.status, 400);
  t.same(noBody.body, { code: 'BAD_REQUEST', message: 'body: is required (send a JSON object)' });
  const badId = await h.call('PUT', '/v1/members/-x/maintenance', { token: 'operator', json: { on: true } });
  t.equal(badId.status, 400);
  t.match(badId.body, { code: 'BAD_REQUEST', message: /^params\.id: must be 1-63 letters.*, got "-x"$/ });
});

t.test('POST /v1/members (join) and DELETE /v1/members/:id (leave)', async (t) => {
  const h = await startApi(t);
  const join = { id: 'fw3', kind: 'data', peer: '127.0.0.1:7404', api: '127.0.0.1:7484', version: '0.3.0' };
  const r = await h.call('POST', '/v1/members', { json: join });
  t.equal(r.status, 200);
  t.match(r.body, { members: [{ id: 'fw1' }, { id: 'fw2' }, { id: 'wit' }, { id: 'fw3', kind: 'data', voter: true }] });
  t.same(h.service.lastCall('join')?.args, [join]);

  const mismatch = await h.call('POST', '/v1/members', { json: { ...join, id: 'fw4', version: '0.2.0' } });
  t.equal(mismatch.status, 409);
  t.same(mismatch.body, { code: 'VERSION_MISMATCH', message: 'fw4 runs 0.2.0; the cluster runs 0.3.0' });

  const badKind = await h.call('POST', '/v1/members', { json: { ...join, kind: 'arbiter' } });
  t.equal(badKind.status, 400);
  t.same(badKind.body, { code: 'BAD_REQUEST', message: 'body.kind: must be one of "data", "witness", got "arbiter"' });
  const missing = await h.call('POST', '/v1/members', { json: { id: 'fw5', kind: 'data', peer: '127.0.0.1:1' } });
  t.same(missing.body, { code: 'BAD_REQUEST', message: 'body.api: is required' });

  const leave = await h.call('DELETE', '/v1/members/fw3');
  t.equal(leave.status, 200);
  t.same((leave.body?.['members'] as Array<{ id: string }>).map((m) => m.id), ['fw1', 'fw2', 'wit']);
  const again = await h.call('DELETE', '/v1/members/fw3');
  t.equal(again.status, 404);
  t.equal(again.body?.['code'], 'MEMBER_NOT_FOUND');
});

t.test('backups: create, list, export, import, restore', async (t) => {
  const h = await startApi(t);
  const created = await h.call('POST', '/v1/backups', { json: { comment: 'before upgrade' } });
  t.equal(created.status, 201);
  t.match(created.body, { id: 'b1', createdBy: 'ops', comment: 'before upgrade', configRevision: 3, sizeBytes: Number });
  const noComment = await h.call('POST', '/v1/backups');
  t.equal(noComment.status, 201);
  t.same(h.service.lastCall('createBackup')?.args, ['']);

  const list = await h.call('GET', '/v1/backups', { token: 'viewer' });
  t.equal(list.status, 200);
  t.same((list.body?.['backups'] as Array<{ id: string }>).map((b) => b.id), ['b1', 'b2']);

  const exported = await fetch(`${h.url}/v1/backups/b1/export`, { headers: { authorization: `Bearer ${TOKENS.admin}` } });
  t.equal(exported.status, 200);
  t.equal(exported.headers.get('content-type'), 'application/octet-stream');
  t.equal(exported.headers.get('content-disposition'), 'attachment; filename="edge-b1.hapair-backup"');
  const bytes = Buffer.from(await exported.arrayBuffer());
  t.same(JSON.parse(bytes.toString()), { settings: h.service.settings, policy: h.service.policy });
  const noSuch = await h.call('GET', '/v1/backups/b9/export');
  t.equal(noSuch.status, 404);
  t.same(noSuch.body, { code: 'BACKUP_NOT_FOUND', message: 'no backup b9' });

  const imported = await h.call('POST', '/v1/backups/import', {
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(imported.status, 201);
  t.match(imported.body, { id: 'b3', comment: 'imported' });
  t.same(Buffer.from(h.service.lastCall('importBackup')?.args[0] as Uint8Array), bytes, 'the bytes arrive unchanged');
  const garbage = await h.call('POST', '/v1/backups/import', {
    body: Buffer.from([0, 1, 2]),
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(garbage.status, 400);
  t.same(garbage.body, { code: 'BACKUP_INVALID', message: 'not a hapair backup' });
  const asJson = await h.call('POST', '/v1/backups/import', { json: { x: 1 } });
  t.equal(asJson.status, 415);
  t.equal(asJson.body?.['code'], 'UNSUPPORTED_MEDIA_TYPE');
  const emptyImport = await h.call('POST', '/v1/backups/import', { body: Buffer.alloc(0), headers: { 'content-type': 'application/octet-stream' } });
  t.equal(emptyImport.status, 400);
  t.same(emptyImport.body, { code: 'BAD_REQUEST', message: 'body: must be a backup file sent as application/octet-stream' });

  const restored = await h.call('POST', '/v1/backups/b1/restore');
  t.equal(restored.status, 200);
  t.same(restored.body, { restored: 'b1', configRevision: 4 });
  const restoreMissing = await h.call('POST', '/v1/backups/b9/restore');
  t.equal(restoreMissing.status, 404);
});

t.test('a backup import larger than the limit is refused with PAYLOAD_TOO_LARGE', async (t) => {
  const h = await startApi(t, { backupLimitBytes: 1024 });
  const r = await h.call('POST', '/v1/backups/import', {
    body: Buffer.alloc(4096, 0x7b),
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(r.status, 413);
  t.equal(r.body?.['code'], 'PAYLOAD_TOO_LARGE');
  t.equal(h.service.lastCall('importBackup'), undefined);
});

t.test('GET /v1/audit', async (t) => {
  const h = await startApi(t);
  h.service.auditEntries = [
    { index: 12, at: SINCE, actor: 'ops', action: 'config.put', detail: 'revision 4' },
    { index: 9, at: SINCE, actor: 'fw2', action: 'role.failover', detail: 'fw1 unreachable', outcome: 'ok' },
  ];
  const r = await h.call('GET', '/v1/audit?limit=1', { token: 'viewer' });
  t.equal(r.status, 200);
  t.same(r.body, { entries: [h.service.auditEntries[0]] });
  t.same(h.service.lastCall('audit')?.args, [1]);
  await h.call('GET', '/v1/audit', { token: 'viewer' });
  t.same(h.service.lastCall('audit')?.args, [100], 'default limit');
  const bad = await h.call('GET', '/v1/audit?limit=0', { token: 'viewer' });
  t.equal(bad.status, 400);
  t.same(bad.body, { code: 'BAD_REQUEST', message: 'query.limit: must be >= 1, got 0' });
  const text = await h.call('GET', '/v1/audit?limit=many', { token: 'viewer' });
  t.same(text.body, { code: 'BAD_REQUEST', message: 'query.limit: must be an integer, got "many"' });
});

t.test('GET /metrics is Prometheus text with the node and API metrics; viewer by default', async (t) => {
  const h = await startApi(t);
  await h.call('GET', '/v1/status');
  const r = await h.call('GET', '/metrics', { token: 'viewer' });
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /^text\/plain/);
  t.match(r.text, /^# HELP hapair_term /m);
  t.match(r.text, /^hapair_term 7$/m);
  t.match(r.text, /^hapair_api_requests_total\{method="GET",route="\/v1\/status",code="200"\} 1$/m);
  t.match(r.text, /^hapair_api_event_streams 0$/m);
  const anonymous = await h.call('GET', '/metrics', { token: null });
  t.equal(anonymous.status, 401);
});

t.test('GET /metrics can be opened to scrapers without a token', async (t) => {
  const h = await startApi(t, { metricsAccess: 'open' });
  const r = await h.call('GET', '/metrics', { token: null });
  t.equal(r.status, 200);
  t.match(r.text, /^hapair_term 7$/m);
});

t.test('/healthz and /readyz need no token and answer 503 with a reason when not ok', async (t) => {
  const h = await startApi(t);
  t.same((await h.call('GET', '/healthz', { token: null })).body, { status: 'ok', detail: 'agent loop running' });
  t.same((await h.call('GET', '/readyz', { token: null })).body, { status: 'ready', detail: 'leader known' });
  h.service.healthProbe = { ok: false, reason: 'the driver loop is stuck' };
  h.service.readyProbe = { ok: false, reason: 'no leader known yet' };
  const health = await h.call('GET', '/healthz', { token: null });
  t.equal(health.status, 503);
  t.same(health.body, { code: 'UNHEALTHY', message: 'the driver loop is stuck' });
  const ready = await h.call('GET', '/readyz', { token: null });
  t.equal(ready.status, 503);
  t.same(ready.body, { code: 'NOT_READY', message: 'no leader known yet' });
});

// ---------------------------------------------------------------------------
// Roles: every route, every kind of caller.

interface RouteCase {
  readonly method: string;
  readonly path: string;
  readonly need: 'viewer' | 'operator' | 'admin';
  readonly init?: CallInit;
  readonly ok: number;
}

const ROUTES: readonly RouteCase[] = [
  { method: 'GET', path: '/v1/status', need: 'viewer', ok: 200 },
  { method: 'GET', path: '/v1/config', need: 'viewer', ok: 200 },
  { method: 'PUT', path: '/v1/config', need: 'admin', init: { json: { preferred: 'fw1' } }, ok: 200 },
  { method: 'GET', path: '/v1/policy', need: 'viewer', ok: 200 },
  { method: 'PUT', path: '/v1/policy', need: 'admin', init: { json: { rules: [] } }, ok: 200 },
  { method: 'POST', path: '/v1/switchover', need: 'operator', init: { json: {} }, ok: 200 },
  { method: 'PUT', path: '/v1/members/fw2/maintenance', need: 'operator', init: { json: { on: true } }, ok: 200 },
  {
    method: 'POST',
    path: '/v1/members',
    need: 'admin',
    init: { json: { id: 'fw3', kind: 'data', peer: '127.0.0.1:7404', api: '127.0.0.1:7484' } },
    ok: 200,
  },
  { method: 'DELETE', path: '/v1/members/fw3', need: 'admin', ok: 200 },
  { method: 'GET', path: '/v1/backups', need: 'viewer', ok: 200 },
  { method: 'POST', path: '/v1/backups', need: 'admin', init: { json: { comment: 'x' } }, ok: 201 },
  { method: 'GET', path: '/v1/backups/b1/export', need: 'admin', ok: 200 },
  {
    method: 'POST',
    path: '/v1/backups/import',
    need: 'admin',
    init: { body: '{"settings":{}}', headers: { 'content-type': 'application/octet-stream' } },
    ok: 201,
  },
  { method: 'POST', path: '/v1/backups/b1/restore', need: 'admin', ok: 200 },
  { method: 'GET', path: '/v1/audit', need: 'viewer', ok: 200 },
  { method: 'GET', path: '/metrics', need: 'viewer', ok: 200 },
];

const RANK = { viewer: 0, operator: 1, admin: 2 } as const;

t.test('roles: no token and bad tokens get 401, lower roles 403, and the service is never called', async (t) => {
  const h = await startApi(t);
  await h.service.createBackup('seed', { name: 'test', role: 'admin' });
  for (const route of ROUTES) {
    const callsBefore = h.service.calls.length;
    for (const token of [null, { raw: 'not-a-token' }] as const) {
      const r = await h.call(route.method, route.path, { ...route.init, token });
      t.equal(r.status, 401, `${route.method} ${route.path} without a valid token`);
      t.equal(r.body?.['code'], 'UNAUTHENTICATED');
      t.equal(r.headers.get('www-authenticate'), 'Bearer realm="hapair"');
    }
    const malformed = await h.call(route.method, route.path, { ...route.init, token: null, headers: { authorization: 'Basic abc' } });
    t.same(malformed.body, { code: 'UNAUTHENTICATED', message: 'malformed Authorization header: expected "Bearer <token>"' });
    for (const role of ['viewer', 'operator'] as const) {
      if (RANK[role] >= RANK[route.need]) continue;
      const r = await h.call(route.method, route.path, { ...route.init, token: role });
      t.equal(r.status, 403, `${route.method} ${route.path} as ${role}`);
      t.equal(r.body?.['code'], 'FORBIDDEN');
      t.match(r.body?.['message'], new RegExp(`has role ${role}; ${route.method} .* needs ${route.need}$`));
    }
    t.equal(h.service.calls.length, callsBefore, `${route.method} ${route.path}: refused calls never reach the service`);
  }
});

t.test('roles: every role at or above the route role succeeds', async (t) => {
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    const h = await startApi(t);
    await h.service.createBackup('seed', { name: 'test', role: 'admin' });
    for (const route of ROUTES) {
      if (RANK[role] < RANK[route.need]) continue;
      const r = await h.call(route.method, route.path, { ...route.init, token: role });
      t.equal(r.status, route.ok, `${route.method} ${route.path} as ${role}: ${r.text.slice(0, 200)}`);
    }
  }
});

t.test('POST /v1/notes needs an operator and a text; GET /v1/notes for viewers', async (t) => {
  const h = await startApi(t);
  const denied = await h.call('POST', '/v1/notes', { token: 'viewer', json: { text: 'hello' } });
  t.equal(denied.status, 403);
  t.equal(h.service.lastCall('addNote'), undefined);
  const empty = await h.call('POST', '/v1/notes', { token: 'operator', json: { text: '' } });
  t.equal(empty.status, 400);
  t.match(empty.body?.['message'], /^body\.text: /);
  const posted = await h.call('POST', '/v1/notes', { token: 'operator', json: { text: 'replaced the cable on fw2' } });
  t.equal(posted.status, 200);
  t.match(posted.body, { count: 1, recent: [{ text: 'replaced the cable on fw2' }] });
  const read = await h.call('GET', '/v1/notes', { token: 'viewer' });
  t.equal(read.status, 200);
  t.equal(read.body?.['count'], 1);
});

t.test('POST /v1/flap-damping/clear needs an operator', async (t) => {
  const h = await startApi(t);
  const denied = await h.call('POST', '/v1/flap-damping/clear', { token: 'viewer' });
  t.equal(denied.status, 403);
  t.equal(h.service.lastCall('clearFlapDamping'), undefined);
  const r = await h.call('POST', '/v1/flap-damping/clear', { token: 'operator' });
  t.equal(r.status, 200);
  t.same(r.body, { cleared: true });
});
