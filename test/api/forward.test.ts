/**
 * Writes reaching a follower are replayed to the leader with the caller's
 * token; reads are answered locally; a dead leader gives NOT_LEADER naming
 * it; a request is forwarded at most once.
 */
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import { FakeService } from './fake-service.js';
import { startApi } from './harness.js';

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function pair(t: Parameters<typeof startApi>[0]) {
  const leader = await startApi(t, { service: new FakeService('fw2') });
  const follower = await startApi(t, { service: new FakeService('fw1') });
  follower.service.leader = { id: 'fw2', url: leader.url };
  return { leader, follower };
}

t.test('a write at a follower is answered by the leader, as the caller', async (t) => {
  const { leader, follower } = await pair(t);
  const settings = { preferred: 'fw2' };
  const r = await follower.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': '3' } });
  t.equal(r.status, 200);
  t.same(r.body, { revision: 4, settings, updatedBy: 'ops' });
  t.equal(r.headers.get('etag'), '"4"');
  t.equal(r.headers.get('x-hapair-forwarded-to'), 'fw2');
  const call = leader.service.lastCall('putConfig');
  t.same(call?.args, [settings, 3], 'body and If-Match reach the leader');
  t.same(call?.principal, { name: 'ops', role: 'admin' }, 'the leader authenticated the same token');
  t.equal(follower.service.lastCall('putConfig'), undefined, 'the follower did not apply it');

  const stale = await follower.call('PUT', '/v1/config', { json: settings, headers: { 'if-match': '3' } });
  t.equal(stale.status, 412, "the leader's error passes through");
  t.same(stale.body, { code: 'REVISION_CONFLICT', message: 'config revision is 4, not 3' });

  const sw = await follower.call('POST', '/v1/switchover', { token: 'operator' });
  t.equal(sw.status, 200);
  t.same(leader.service.lastCall('switchover')?.args, [{}]);

  const backup = Buffer.from('{"settings":{}}');
  const imp = await follower.call('POST', '/v1/backups/import', {
    body: backup,
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(imp.status, 201);
  t.same(Buffer.from(leader.service.lastCall('importBackup')?.args[0] as Uint8Array), backup, 'bytes are forwarded as bytes');

  const del = await follower.call('DELETE', '/v1/members/wit');
  t.equal(del.status, 200);
  t.same(leader.service.lastCall('leave')?.args, ['wit']);
});

t.test('reads are answered by the node asked, and refused callers are refused locally', async (t) => {
  const { leader, follower } = await pair(t);
  const r = await follower.call('GET', '/v1/status', { token: 'viewer' });
  t.equal(r.status, 200);
  t.equal(r.body?.['node'], 'fw1');
  t.equal(leader.service.calls.length, 0);
  const forbidden = await follower.call('PUT', '/v1/config', { token: 'viewer', json: {} });
  t.equal(forbidden.status, 403);
  const invalid = await follower.call('POST', '/v1/switchover', { token: 'operator', json: { to: 7 } });
  t.equal(invalid.status, 400, 'validation happens before forwarding');
  t.equal(leader.service.calls.length, 0, 'nothing reached the leader');
});

t.test('an unreachable leader gives NOT_LEADER naming it', async (t) => {
  const follower = await startApi(t, { service: new FakeService('fw1') });
  const url = `http://127.0.0.1:${await closedPort()}`;
  follower.service.leader = { id: 'fw2', url };
  const r = await follower.call('PUT', '/v1/config', { json: {} });
  t.equal(r.status, 503);
  t.equal(r.body?.['code'], 'NOT_LEADER');
  t.match(r.body?.['message'], `fw1 is not the leader and could not forward the request to the leader fw2 at ${url} (ECONNREFUSED`);
  t.equal(follower.service.lastCall('putConfig'), undefined);
});

t.test('a request is forwarded once: two nodes that each think the other leads do not loop', async (t) => {
  const { leader, follower } = await pair(t);
  leader.service.leader = { id: 'fw1', url: follower.url };
  const r = await follower.call('PUT', '/v1/config', { json: {} });
  t.equal(r.status, 503);
  t.same(r.body, {
    code: 'NOT_LEADER',
    message: `fw2 is not the leader either (it believes fw1 is, at ${follower.url}); retry shortly`,
  });
  t.equal(leader.service.lastCall('putConfig'), undefined);
  t.equal(follower.service.lastCall('putConfig'), undefined);
});

t.test('a forward times out by itself, and a finished one leaves no timer behind', async (t) => {
  const signals: AbortSignal[] = [];
  const recording: typeof fetch = (input, init) => {
    if (init?.signal) signals.push(init.signal);
    return fetch(input, init);
  };
  const leader = await startApi(t, { service: new FakeService('fw2') });
  const follower = await startApi(t, { service: new FakeService('fw1'), forward: { timeoutMs: 150, fetch: recording } });
  follower.service.leader = { id: 'fw2', url: leader.url };
  const ok = await follower.call('PUT', '/v1/config', { json: {} });
  t.equal(ok.status, 200);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(signals.length, 1);
  t.equal(signals[0]?.aborted, false, 'the answered forward was not aborted later by its timer');

  // A leader that accepts the connection and never answers.
  const held = new Set<Socket>();
  const silent = createServer((socket) => held.add(socket));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  const addr = silent.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  follower.service.leader = { id: 'fw2', url: `http://127.0.0.1:${port}` };
  const started = performance.now();
  const slow = await follower.call('PUT', '/v1/config', { json: {} });
  t.equal(slow.status, 503);
  t.match(slow.body?.['message'], 'could not forward the request to the leader fw2');
  t.match(slow.body?.['message'], '(timed out)');
  t.ok(performance.now() - started < 5000, 'it gave up on its own timer');
});
