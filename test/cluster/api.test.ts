/**
 * The HTTP API over real HTTP against a real 3-node cluster (fw1, fw2 data,
 * wit witness) on loopback: the status shape fixed in MISSION.md on every
 * node, config and policy compare-and-set through followers and identical
 * everywhere afterwards (R6), switchover (R13) and its refusals,
 * maintenance, backups, audit, notes, events, metrics, probes, roles; then
 * R2/R3: SIGKILL the active, failover, restart, failback. One cluster,
 * subtests in order: each starts from the state the previous one left.
 */
import t, { type Test } from 'tap';
import { LEASE_REASONS } from '../../src/fsm/commands.js';
import { backupChecksum } from '../../src/fsm/backup.js';
import type { BackupFile } from '../../src/fsm/commands.js';
import { VERSION } from '../../src/node/version.js';
import { AGENT_CONDITION_CODES, CONDITION_CODES } from '../../src/role/types.js';
import type { NodeInfo, StatusView } from '../../src/api/schemas.js';
import { performance } from 'node:perf_hooks';
import { BASE_SETTINGS, DATA_NODES, NODE_NAMES, TOKEN_NAMES, startCluster, summarize, type CallResult, type NodeName, type TestCluster } from './harness.js';

const RULESET = `table inet hapair_test {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 22 accept
  }
}
`;

/** Every error, on every route: `{ code, message }` and nothing else. */
function isError(t: Test, r: CallResult, status: number, code: string, message?: RegExp): void {
  t.equal(r.status, status, `HTTP ${status} (${code}): ${r.text}`);
  t.same(Object.keys(r.body ?? {}).sort(), ['code', 'message'], 'the body is { code, message }');
  t.equal(r.body?.['code'], code);
  t.type(r.body?.['message'], 'string');
  t.ok(String(r.body?.['message']).length > 0, 'the message says something');
  if (message !== undefined) t.match(String(r.body?.['message']), message);
}

function checkStatusShape(t: Test, s: StatusView, asked: NodeName, cluster: TestCluster): void {
  t.equal(s.node, asked, 'node: the node that answered');
  t.equal(s.cluster, cluster.name);
  t.ok(s.leader !== null && (NODE_NAMES as readonly string[]).includes(s.leader), `leader is a member: ${s.leader}`);
  t.ok(Number.isInteger(s.term) && s.term >= 1, `term ${s.term}`);
  t.not(s.active, null, 'a node is active');
  if (s.active !== null) {
    t.equal(s.active.node, 'fw1');
    t.ok(Number.isInteger(s.active.epoch) && s.active.epoch >= 1, `epoch ${s.active.epoch}`);
    t.equal(new Date(s.active.since).toISOString(), s.active.since, 'since is an ISO time');
    t.ok((LEASE_REASONS as readonly string[]).includes(s.active.reason), `reason ${s.active.reason}`);
  }
  t.same(
    s.members.map((m) => m.id),
    ['fw1', 'fw2', 'wit'],
  );
  const expectRole: Record<string, string> = { fw1: 'active', fw2: 'standby', wit: 'witness' };
  for (const m of s.members) {
    t.equal(m.kind, m.id === 'wit' ? 'witness' : 'data', `${m.id} kind`);
    t.equal(m.role, expectRole[m.id], `${m.id} role`);
    t.equal(m.reachable, true, `${m.id} reachable`);
    t.equal(m.health, 'healthy', `${m.id} health`);
    t.equal(m.version, VERSION, `${m.id} version`);
    t.ok(Number.isInteger(m.appliedIndex) && m.appliedIndex > 0, `${m.id} appliedIndex ${m.appliedIndex}`);
    t.equal(m.maintenance, false, `${m.id} maintenance`);
  }
  t.ok(Number.isInteger(s.configRevision) && s.configRevision >= 1, 'configRevision counts the settings applied at start');
  t.ok(Array.isArray(s.conditions), 'conditions is a list');
  for (const c of s.conditions) {
    t.ok(([...CONDITION_CODES, ...AGENT_CONDITION_CODES] as readonly string[]).includes(c.code), `known code ${c.code}`);
    t.ok(['info', 'warning', 'critical'].includes(c.severity), `severity ${c.severity}`);
    t.ok(c.message.length > 0, 'a sentence');
  }
}

async function config(c: TestCluster, id: NodeName, linearizable = false): Promise<{ revision: number; settings: Record<string, unknown> }> {
  const r = await c.call(id, 'GET', `/v1/config${linearizable ? '?linearizable=true' : ''}`, { token: 'viewer' });
  if (r.status !== 200) throw new Error(`GET /v1/config on ${id}: ${r.status} ${r.text}`);
  return r.body as { revision: number; settings: Record<string, unknown> };
}

/**
 * A switchover asked for right after a settings change is refused until the
 * target's report of the new revision is committed (a fraction of a second,
 * longer on a busy machine): ask again while that is the only reason.
 */
async function switchoverOnceCaughtUp(c: TestCluster, via: NodeName, json: { to?: string }): Promise<CallResult> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const r = await c.call(via, 'POST', '/v1/switchover', { token: 'operator', json });
    const catchingUp = r.status === 409 && /has not applied settings revision/.test(r.text);
    if (!catchingUp || performance.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function metric(text: string, name: string, labels: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('the HTTP API against a live 3-node cluster', async (t) => {
  // `uplink` is a device with carrier (lo) everywhere except on fw1, where it does not exist: a carrier
  // monitor on it fails on fw1 only (the R4 subtest).
  const c = await startCluster(t, {
    name: 'apitest',
    interfaces: {
      fw1: { lan: 'lan0', uplink: 'hapair-none0' },
      fw2: { lan: 'lan0', uplink: 'lo' },
      wit: { lan: 'lan0', uplink: 'lo' },
    },
  });

  await t.test('GET /v1/status has the MISSION shape on every node; ?linearizable=true reads through a quorum', async (t) => {
    // A cluster that just formed settles within a few heartbeats: health reports in, no condition left.
    const statuses = await c.waitFor('the leader reports a settled, healthy cluster', async () => {
      const leader = await c.waitForLeader();
      const view = await c.status(leader);
      if (view.conditions.length > 0 || !view.members.every((m) => m.reachable && m.health === 'healthy' && m.role !== 'none')) return null;
      const all = await Promise.all(NODE_NAMES.map((id) => c.status(id)));
      return all.every((s) => s.conditions.length === 0 && s.members.every((m) => m.reachable)) ? all : null;
    });
    for (const [i, s] of statuses.entries()) checkStatusShape(t, s, NODE_NAMES[i] as NodeName, c);
    t.equal(new Set(statuses.map((s) => s.active?.epoch)).size, 1, 'every node names the same epoch');

    const leader = statuses[0]?.leader as NodeName;
    for (const id of NODE_NAMES) {
      const before = await c.status(leader);
      const s = await c.status(id, '?linearizable=true');
      t.equal(s.read.linearizable, true, `${id}: the read says it is linearizable`);
      t.ok(
        s.read.appliedIndex >= (before.commitIndex ?? Infinity),
        `${id}: a linearizable read has applied everything committed before it was asked (${s.read.appliedIndex} >= ${before.commitIndex})`,
      );
    }
    const local = await c.status('wit');
    t.equal(local.read.linearizable, false, 'a plain read says it is local');
  });

  await t.test('on a steady cluster every node sees every running member reachable (followers too)', async (t) => {
    // Raft followers exchange no messages with each other: a node that counted only Raft traffic as "heard"
    // reported a live follower unreachable (and the cluster DEGRADED) once an election timeout passed without
    // an election. Watch every node's view for three election timeouts of steady leadership.
    const leader = await c.waitForLeader();
    const term = (await c.status(leader)).term;
    const windowMs = 3 * BASE_SETTINGS.timers.electionTimeoutMs;
    const started = performance.now();
    const problems: string[] = [];
    while (performance.now() - started < windowMs && problems.length === 0) {
      for (const s of await Promise.all(NODE_NAMES.map((id) => c.status(id)))) {
        if (s.term !== term) continue; // an election in between says nothing about steady state
        for (const m of s.members) if (!m.reachable) problems.push(`${s.node} reports ${m.id} unreachable (${summarize(s)})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    t.same(problems, [], 'no live member is reported unreachable');
  });

  await t.test('PUT /v1/config: compare-and-set through a follower, errors name the key, identical on every node (R6)', async (t) => {
    const leader = await c.waitForLeader();
    const follower = c.followerOf(leader);
    const before = await c.call(follower, 'GET', '/v1/config', { token: 'viewer' });
    t.equal(before.status, 200);
    const revision = before.body?.['revision'] as number;
    t.equal(before.headers.get('etag'), `"${revision}"`, 'the ETag is the revision');
    t.match(before.body?.['settings'], { preferred: 'fw1', failback: { auto: true, holdDownMs: 300 } }, 'the settings applied at start');

    // Automatic failback off, so the switchover tests below are not undone by it (R9).
    const next = {
      ...BASE_SETTINGS,
      vips: [...BASE_SETTINGS.vips, { address: '2001:db8::1/64', interface: 'lan' }],
      failback: { auto: false, holdDownMs: 300 },
    };
    const put = await c.call(follower, 'PUT', '/v1/config', { json: next, headers: { 'if-match': `"${revision}"` } });
    t.equal(put.status, 200, put.text);
    t.equal(put.body?.['revision'], revision + 1, 'a successful write bumps the revision');
    t.equal(put.headers.get('etag'), `"${revision + 1}"`);
    t.equal(put.headers.get('x-hapair-forwarded-to'), leader, `the follower ${follower} forwarded the write to the leader ${leader}`);
    t.match(put.body?.['settings'], { failback: { auto: false }, vips: next.vips });

    const stale = await c.call(follower, 'PUT', '/v1/config', { json: BASE_SETTINGS, headers: { 'if-match': String(revision) } });
    isError(t, stale, 412, 'REVISION_CONFLICT', new RegExp(`revision ${revision}.*current revision is ${revision + 1}`));

    const wrongType = await c.call(follower, 'PUT', '/v1/config', { json: { ...next, failback: { auto: false, holdDownMs: '5s' } } });
    isError(t, wrongType, 400, 'CONFIG_INVALID', /failback\.holdDownMs/);
    const typo = await c.call(follower, 'PUT', '/v1/config', { json: { ...next, failbak: { auto: true } } });
    isError(t, typo, 400, 'CONFIG_INVALID', /failbak/);
    const witness = await c.call(leader, 'PUT', '/v1/config', { json: { ...next, preferred: 'wit' } });
    isError(t, witness, 400, 'CONFIG_INVALID', /preferred/);
    const badVip = await c.call(leader, 'PUT', '/v1/config', { json: { ...next, vips: [{ address: '10.0.0.300/24', interface: 'lan' }] } });
    isError(t, badVip, 400, 'CONFIG_INVALID', /vips\.0\.address/);

    const views = await Promise.all(NODE_NAMES.map((id) => config(c, id, true)));
    for (const [i, v] of views.entries()) {
      t.equal(v.revision, revision + 1, `${NODE_NAMES[i]}: the refused writes left the revision alone`);
      t.same(v.settings, put.body?.['settings'], `${NODE_NAMES[i]}: the same settings as the leader answered`);
    }
  });

  await t.test('PUT/GET /v1/policy: compare-and-set, POLICY_INVALID, identical on every node', async (t) => {
    const current = await c.call('wit', 'GET', '/v1/policy', { token: 'viewer' });
    t.equal(current.status, 200);
    const revision = current.body?.['revision'] as number;
    const put = await c.call('wit', 'PUT', '/v1/policy', { json: { ruleset: RULESET }, headers: { 'if-match': String(revision) } });
    t.equal(put.status, 200, put.text);
    t.equal(put.body?.['revision'], revision + 1);
    t.same(put.body?.['policy'], { ruleset: RULESET });
    isError(t, await c.call('fw2', 'PUT', '/v1/policy', { json: { ruleset: '' }, headers: { 'if-match': String(revision) } }), 412, 'REVISION_CONFLICT');
    isError(t, await c.call('fw2', 'PUT', '/v1/policy', { json: { ruleset: 5 } }), 400, 'POLICY_INVALID', /ruleset/);
    isError(t, await c.call('fw2', 'PUT', '/v1/policy', { json: { rules: RULESET } }), 400, 'POLICY_INVALID', /rules/);
    for (const id of NODE_NAMES) {
      const r = await c.call(id, 'GET', '/v1/policy?linearizable=true', { token: 'viewer' });
      t.equal(r.body?.['revision'], revision + 1, `${id}: policy revision`);
      t.same(r.body?.['policy'], { ruleset: RULESET }, `${id}: the same ruleset`);
    }
    // The standby applies a new policy first, then the active (R11); both report it, so no condition remains.
    await c.waitFor('no node reports a policy problem', async () => {
      const all = await Promise.all(NODE_NAMES.map((id) => c.status(id)));
      return all.every((s) => s.conditions.every((x) => x.code !== 'POLICY_APPLY_FAILED' && x.code !== 'NOT_READY'));
    });
  });

  await t.test('GET /v1/node: each node itself, with the same settings and policy and its own setup check (R6, R7)', async (t) => {
    const infos = await c.waitFor('every node holds the leader\'s policy', async () => {
      const all = await Promise.all(NODE_NAMES.map(async (id) => (await c.call(id, 'GET', '/v1/node', { token: 'viewer' })).body as unknown as NodeInfo));
      return all.every((i) => i.policySha256 === all[0]?.policySha256 && (i.kind === 'witness' || i.appliedPolicyRevision === i.policyRevision)) ? all : null;
    });
    for (const [k, info] of infos.entries()) {
      const id = NODE_NAMES[k] as NodeName;
      t.match(info, { node: id, kind: id === 'wit' ? 'witness' : 'data', cluster: 'apitest', version: VERSION, membership: 'voter', driver: 'sim', join: [] });
      t.equal(info.peer, c.peer(id));
      t.equal(info.api, c.api(id));
      t.equal(info.settingsSha256, infos[0]?.settingsSha256, `${id}: identical settings`);
      t.equal(info.configRevision, infos[0]?.configRevision);
      t.same(info.check, {
        ok: true,
        problems: [],
        vips:
          id === 'wit'
            ? []
            : [
                { address: '192.0.2.1/24', interface: 'lan', device: 'lan0', problem: null },
                { address: '2001:db8::1/64', interface: 'lan', device: 'lan0', problem: null },
              ],
      });
      t.match(info.raft, { tickMs: 10, electionTicks: 100, heartbeatTicks: 10, voteRefusalTicks: 100 });
    }
    isError(t, await c.call('fw1', 'GET', '/v1/node', { token: null }), 401, 'UNAUTHENTICATED');
  });

  await t.test('a committed change of the timers reaches every Raft core without a restart', async (t) => {
    const current = await config(c, 'fw1', true);
    const timers = async (): Promise<NodeInfo['raft'][]> =>
      Promise.all(NODE_NAMES.map(async (id) => ((await c.call(id, 'GET', '/v1/node', { token: 'viewer' })).body as unknown as NodeInfo).raft));
    const faster = await c.call('fw2', 'PUT', '/v1/config', { json: { ...current.settings, timers: { heartbeatMs: 50, electionTimeoutMs: 600 } } });
    t.equal(faster.status, 200, faster.text);
    const shorter = await c.waitFor('every core runs 60/5 ticks and, once its report is committed, refuses votes for 60', async () => {
      const all = await timers();
      return all.every((r) => r.electionTicks === 60 && r.heartbeatTicks === 5 && r.voteRefusalTicks === 60) ? all : null;
    });
    t.equal(shorter.length, 3);
    const still = await c.waitForActive('fw1');
    t.same(still.conditions, [], 'the change moved nothing and raised nothing');

    const slower = await c.call('wit', 'PUT', '/v1/config', { json: { ...current.settings, timers: { heartbeatMs: 100, electionTimeoutMs: 1000 } } });
    t.equal(slower.status, 200, slower.text);
    await c.waitFor('every core is back on 100/10 ticks', async () =>
      (await timers()).every((r) => r.electionTicks === 100 && r.heartbeatTicks === 10 && r.voteRefusalTicks === 100),
    );
    t.equal((await c.waitForActive('fw1')).active?.epoch, still.active?.epoch, 'the same lease throughout');
  });

  await t.test('POST /v1/switchover (operator): to fw2 and back; the SSE stream shows the role event (R13)', async (t) => {
    const events = await c.events('wit');
    t.teardown(() => events.close());
    t.match(events.contentType, /^text\/event-stream/);
    const before = await c.waitForActive('fw1');
    const epoch = before.active?.epoch ?? 0;

    const to2 = await switchoverOnceCaughtUp(c, 'wit', { to: 'fw2' });
    t.equal(to2.status, 200, to2.text);
    const r2 = to2.body as { active: { node: string; epoch: number; reason: string }; previous: string; durationMs: number };
    t.equal(r2.active.node, 'fw2', 'answers once fw2 holds the role');
    t.ok(r2.active.epoch > epoch, `the epoch grows: ${epoch} -> ${r2.active.epoch}`);
    t.equal(r2.active.reason, 'switchover');
    t.equal(r2.previous, 'fw1');
    t.ok(Number.isInteger(r2.durationMs) && r2.durationMs >= 0, 'durationMs is given');
    const after2 = await c.waitForActive('fw2');
    t.equal(after2.active?.epoch, r2.active.epoch, 'the status shows the epoch the switchover answered');
    t.equal(after2.members.find((m) => m.id === 'fw1')?.role, 'standby', 'fw1 is the standby now');

    const event = await events.next('role event naming fw2', (e) => e.type === 'role' && e.data['active'] === 'fw2');
    t.match(event.data, { type: 'role', active: 'fw2', previous: 'fw1', epoch: r2.active.epoch, reason: 'switchover' });
    t.type(event.data['at'], 'string');

    // No target: the other data node.
    const back = await switchoverOnceCaughtUp(c, 'fw2', {});
    t.equal(back.status, 200, back.text);
    t.match(back.body, { active: { node: 'fw1', reason: 'switchover' }, previous: 'fw2' });
    t.ok((back.body as { active: { epoch: number } }).active.epoch > r2.active.epoch, 'the epoch grows again');
    await c.waitForActive('fw1');
    await events.next('role event naming fw1', (e) => e.type === 'role' && e.data['active'] === 'fw1');
  });

  await t.test('a switchover that cannot happen is refused with the reason', async (t) => {
    const before = await c.waitForActive('fw1');
    isError(t, await c.call('fw2', 'POST', '/v1/switchover', { token: 'operator', json: { to: 'wit' } }), 409, 'SWITCHOVER_REFUSED', /wit is a witness and never holds the active role/);
    isError(t, await c.call('fw2', 'POST', '/v1/switchover', { token: 'operator', json: { to: 'ghost' } }), 409, 'SWITCHOVER_REFUSED', /ghost is not a member/);
    isError(t, await c.call('fw1', 'POST', '/v1/switchover', { token: 'operator', json: { to: 'fw1' } }), 409, 'SWITCHOVER_REFUSED', /fw1 already holds the active role/);
    isError(t, await c.call('fw1', 'POST', '/v1/switchover', { token: 'operator', json: { to: 5 } }), 400, 'BAD_REQUEST', /body\.to/);
    const after = await c.status('fw1');
    t.same(after.active, before.active, 'nothing moved');
  });

  await t.test('a switchover its target cannot finish is withdrawn when the call times out, and does not happen later', async (t) => {
    const before = await c.waitForActive('fw1');
    t.teardown(() => c.resume('fw2'));
    // fw2 passes the check (heard from just now), then hangs before it can take the role.
    const call = c.call('wit', 'POST', '/v1/switchover', { token: 'operator', json: { to: 'fw2' }, timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 2));
    c.pause('fw2');
    const r = await call;
    t.equal(r.status, 504, r.text);
    t.equal(r.body?.['code'], 'TIMEOUT');
    t.match(r.body?.['message'], /^fw2 did not take the active role within 15 s; the move was withdrawn and will not happen later: fw1 \(epoch \d+\) keeps the active role/);
    // fw2 is frozen: ask the others.
    const held = await c.waitFor('fw1 holds the role', async () => {
      const s = await c.status('fw1');
      return s.active?.node === 'fw1' && (await c.status('wit')).active?.epoch === s.active.epoch ? s : null;
    });
    t.ok((held.active?.epoch ?? 0) >= (before.active?.epoch ?? 0));
    const audit = await c.call('fw1', 'GET', '/v1/audit?limit=20', { token: 'viewer' });
    const rows = audit.body?.['entries'] as Array<{ action: string; actor: string; outcome?: string }>;
    t.ok(rows.some((row) => row.action === 'withdrawIntent' && row.actor === 'oncall' && row.outcome === 'applied'), 'the withdrawal is in the audit trail, by the caller');

    c.resume('fw2');
    await c.waitFor('fw2 is the standby again', async () => {
      const s = await c.status('fw1');
      return s.members.find((m) => m.id === 'fw2')?.role === 'standby' && s.members.find((m) => m.id === 'fw2')?.health === 'healthy' ? s : null;
    });
    // Without the withdrawal, the move would be carried out as soon as fw2 could take the role.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await c.status('fw1');
    t.equal(after.active?.node, 'fw1', 'the move did not happen later');
    t.equal(after.active?.epoch, held.active?.epoch, 'the same lease');
    t.notOk(after.conditions.some((x) => x.code === 'MOVE_PENDING'), 'no move waits');
  });

  await t.test('PUT /v1/members/:id/maintenance on the active moves the role away; off again, failback brings it back', async (t) => {
    const settings = { ...BASE_SETTINGS, failback: { auto: true, holdDownMs: 300 } };
    const put = await c.call('fw2', 'PUT', '/v1/config', { json: settings });
    t.equal(put.status, 200, put.text);
    const before = await c.waitForActive('fw1');

    const on = await c.call('wit', 'PUT', '/v1/members/fw1/maintenance', { token: 'operator', json: { on: true } });
    t.equal(on.status, 200, on.text);
    t.same(on.body, { id: 'fw1', maintenance: true });
    const moved = await c.waitForActive('fw2');
    t.equal(moved.active?.reason, 'maintenance');
    t.ok((moved.active?.epoch ?? 0) > (before.active?.epoch ?? 0), 'a new epoch');
    const fw1 = moved.members.find((m) => m.id === 'fw1');
    t.equal(fw1?.maintenance, true);
    t.equal(fw1?.role, 'none', 'a member in maintenance is neither active nor standby');
    const flagged = await c.waitFor('fw2 shows the MAINTENANCE condition for fw1', async () => {
      const s = await c.status('fw2');
      return s.conditions.find((x) => x.code === 'MAINTENANCE' && x.node === 'fw1') ?? null;
    });
    t.equal(flagged.severity, 'info');
    t.match(flagged.message, /fw1 is in maintenance/);

    const off = await c.call('fw1', 'PUT', '/v1/members/fw1/maintenance', { token: 'operator', json: { on: false } });
    t.equal(off.status, 200, off.text);
    const back = await c.waitForActive('fw1');
    t.equal(back.active?.reason, 'failback', 'automatic failback returns the role to the preferred node (R9)');
    t.equal(back.members.find((m) => m.id === 'fw1')?.maintenance, false);

    isError(t, await c.call('fw1', 'PUT', '/v1/members/ghost/maintenance', { token: 'operator', json: { on: true } }), 404, 'MEMBER_NOT_FOUND', /ghost/);
    isError(t, await c.call('fw1', 'PUT', '/v1/members/fw2/maintenance', { token: 'operator', json: { on: 'yes' } }), 400, 'BAD_REQUEST', /body\.on/);
  });

  await t.test('backups: create, list on every node, export with its sha256, import the file, restore it', async (t) => {
    const events = await c.events('wit');
    t.teardown(() => events.close());
    const current = await config(c, 'fw1', true);
    const created = await c.call('fw2', 'POST', '/v1/backups', { json: { comment: 'before tuning' } });
    t.equal(created.status, 201, created.text);
    const info = created.body as { id: string; configRevision: number; sha256: string; createdBy: string; comment: string };
    t.match(info, { configRevision: current.revision, createdBy: TOKEN_NAMES.admin, comment: 'before tuning' });
    t.match(info.sha256, /^[0-9a-f]{64}$/);

    await c.waitFor('every node lists the backup', async () => {
      const lists = await Promise.all(NODE_NAMES.map((id) => c.call(id, 'GET', '/v1/backups', { token: 'viewer' })));
      return lists.every((l) => (l.body?.['backups'] as Array<{ id: string }>).some((b) => b.id === info.id));
    });

    const exported = await c.call('wit', 'GET', `/v1/backups/${info.id}/export`);
    t.equal(exported.status, 200, exported.text);
    t.match(exported.headers.get('content-type'), /^application\/octet-stream/);
    t.match(exported.headers.get('content-disposition'), new RegExp(`^attachment; filename="hapair-apitest-${info.id}\\.json"$`));
    const file = JSON.parse(exported.text) as BackupFile & { hapairBackup: number };
    t.equal(file.hapairBackup, 1);
    t.equal(file.sha256, info.sha256, 'the file carries the sha256 the backup was listed with');
    t.equal(backupChecksum(file.content), file.sha256, 'the sha256 matches the content');
    t.same(file.content.settings, current.settings, 'the backup holds the settings of its time');
    isError(t, await c.call('wit', 'GET', `/v1/backups/${info.id}/export`, { token: 'viewer' }), 403, 'FORBIDDEN', /needs admin/);
    isError(t, await c.call('wit', 'GET', '/v1/backups/nope/export'), 404, 'BACKUP_NOT_FOUND');

    // Change the settings, then bring the old ones back through an imported copy of the file.
    const tuned = await c.call('fw1', 'PUT', '/v1/config', { json: { ...BASE_SETTINGS, failback: { auto: true, holdDownMs: 450 } } });
    t.equal(tuned.status, 200, tuned.text);
    const octets = { 'content-type': 'application/octet-stream' };
    const imported = await c.call('fw2', 'POST', '/v1/backups/import', { body: exported.text, headers: octets });
    t.equal(imported.status, 201, imported.text);
    const copy = imported.body as { id: string; sha256: string };
    t.not(copy.id, info.id, 'an import is a new backup');
    const createdEvent = await events.next('backup created', (e) => e.type === 'backup' && e.data['id'] === info.id);
    t.match(createdEvent.data, { action: 'created', by: TOKEN_NAMES.admin });
    const importedEvent = await events.next('backup imported', (e) => e.type === 'backup' && e.data['id'] === copy.id);
    t.match(importedEvent.data, { action: 'imported', by: TOKEN_NAMES.admin });
    t.equal(copy.sha256, info.sha256, 'with the same content');

    const tampered = exported.text.replace('"holdDownMs": 300', '"holdDownMs": 301');
    t.not(tampered, exported.text, 'the test changed the file');
    isError(t, await c.call('fw2', 'POST', '/v1/backups/import', { body: tampered, headers: octets }), 400, 'BACKUP_INVALID', /checksum/);
    isError(t, await c.call('fw2', 'POST', '/v1/backups/import', { body: 'hello', headers: octets }), 400, 'BACKUP_INVALID');
    isError(t, await c.call('fw2', 'POST', '/v1/backups/import', { json: file }), 415, 'UNSUPPORTED_MEDIA_TYPE');

    const restored = await c.call('wit', 'POST', `/v1/backups/${copy.id}/restore`);
    t.equal(restored.status, 200, restored.text);
    const tunedRevision = (tuned.body as { revision: number }).revision;
    t.match(restored.body, { restored: copy.id, configRevision: tunedRevision + 1 });
    for (const id of NODE_NAMES) {
      const v = await config(c, id, true);
      t.equal(v.revision, tunedRevision + 1, `${id}: a restore is a new revision`);
      t.same(v.settings, current.settings, `${id}: the restored settings`);
    }
    isError(t, await c.call('wit', 'POST', '/v1/backups/nope/restore'), 404, 'BACKUP_NOT_FOUND');
    const restoredEvent = await events.next('backup restored', (e) => e.type === 'backup' && e.data['action'] === 'restored');
    t.match(restoredEvent.data, { id: copy.id, by: TOKEN_NAMES.admin });
  });

  await t.test('GET /v1/audit shows who did what; POST/GET /v1/notes', async (t) => {
    const note = 'replaced the cable on fw2';
    const added = await c.call('wit', 'POST', '/v1/notes', { token: 'operator', json: { text: note } });
    t.equal(added.status, 200, added.text);
    const notes = added.body as { count: number; xor: string; recent: Array<{ text: string; by: string }> };
    t.ok(notes.count >= 1);
    t.match(notes.recent[0], { text: note, by: TOKEN_NAMES.operator });
    await c.waitFor('every node holds the same notes', async () => {
      const all = await Promise.all(NODE_NAMES.map((id) => c.call(id, 'GET', '/v1/notes', { token: 'viewer' })));
      return all.every((r) => r.body?.['count'] === notes.count && r.body['xor'] === notes.xor);
    });
    isError(t, await c.call('wit', 'POST', '/v1/notes', { token: 'viewer', json: { text: 'x' } }), 403, 'FORBIDDEN');
    // The 20 newest, newest first, whatever else the audit trail holds between them.
    let last = added;
    for (let i = 0; i < 22; i++) {
      last = await c.call('fw1', 'POST', '/v1/notes', { token: 'operator', json: { text: `note ${i}` } });
      if (i === 10) isError(t, await c.call('fw1', 'PUT', '/v1/config', { json: BASE_SETTINGS, headers: { 'if-match': '1' } }), 412, 'REVISION_CONFLICT');
    }
    const recent = (last.body as { recent: Array<{ index: number; text: string }> }).recent;
    t.same(recent.map((n) => n.text), Array.from({ length: 20 }, (_, i) => `note ${21 - i}`));
    t.ok(recent.every((n, i) => i === 0 || n.index < (recent[i - 1]?.index ?? Infinity)), 'newest first');

    const audit = await c.call('fw2', 'GET', '/v1/audit?limit=1000', { token: 'viewer' });
    t.equal(audit.status, 200, audit.text);
    const entries = audit.body?.['entries'] as Array<{ index: number; at: string; actor: string; action: string; detail: string; outcome?: string }>;
    t.ok(entries.every((e, i) => i === 0 || e.index < (entries[i - 1]?.index ?? Infinity)), 'newest first');
    const did = (actor: string, action: string, outcome = 'applied'): boolean =>
      entries.some((e) => e.actor === actor && e.action === action && e.outcome === outcome);
    t.ok(did(TOKEN_NAMES.admin, 'setSettings'), 'the admin changed the settings');
    t.ok(did(TOKEN_NAMES.admin, 'setSettings', 'refused'), 'and a stale compare-and-set is on record as refused');
    t.ok(did(TOKEN_NAMES.admin, 'setPolicy'), 'the admin changed the policy');
    t.ok(did(TOKEN_NAMES.operator, 'moveIntent'), 'the operator switched over');
    t.ok(did(TOKEN_NAMES.operator, 'setMaintenance'), 'the operator set maintenance');
    t.ok(did(TOKEN_NAMES.admin, 'createBackup') && did(TOKEN_NAMES.admin, 'importBackup') && did(TOKEN_NAMES.admin, 'restoreBackup'), 'the backups');
    t.ok(entries.some((e) => e.actor === TOKEN_NAMES.operator && e.action === 'addNote' && e.detail.includes(note)), 'the note');
    t.ok(entries.some((e) => e.actor === 'node:fw1' && e.action === 'grantLease'), 'automatic actions name the node');
    const limited = await c.call('fw2', 'GET', '/v1/audit?limit=2', { token: 'viewer' });
    t.equal((limited.body?.['entries'] as unknown[]).length, 2, '?limit bounds the answer');
    isError(t, await c.call('fw2', 'GET', '/v1/audit?limit=0', { token: 'viewer' }), 400, 'BAD_REQUEST', /query\.limit/);
  });

  await t.test('GET /metrics, /healthz, /readyz, /v1/openapi.json', async (t) => {
    const status = await c.waitForActive('fw1');
    for (const id of DATA_NODES) {
      const r = await c.call(id, 'GET', '/metrics', { token: 'viewer' });
      t.equal(r.status, 200);
      t.match(r.headers.get('content-type'), /^text\/plain/);
      const term = metric(r.text, 'hapair_raft_term', `node="${id}"`);
      t.ok(term !== null && term >= status.term, `${id}: hapair_raft_term ${term} (status said ${status.term})`);
      t.equal(metric(r.text, 'hapair_active', `node="${id}"`), id === 'fw1' ? 1 : 0, `${id}: hapair_active`);
      t.equal(metric(r.text, 'hapair_epoch', `node="${id}"`), status.active?.epoch, `${id}: hapair_epoch`);
      for (const name of ['hapair_raft_leader', 'hapair_raft_commit_index', 'hapair_raft_applied_index', 'hapair_peer_reachable', 'hapair_role_moves_total', 'hapair_api_']) {
        t.ok(r.text.includes(name), `${id}: ${name}`);
      }
      t.equal(metric(r.text, 'hapair_role_moves_total', 'reason="switchover"'), 2, `${id}: two switchovers were applied`);
    }
    isError(t, await c.call('fw1', 'GET', '/metrics', { token: null }), 401, 'UNAUTHENTICATED');

    for (const id of NODE_NAMES) {
      const health = await c.call(id, 'GET', '/healthz', { token: null });
      t.equal(health.status, 200, `${id} /healthz`);
      t.equal(health.body?.['status'], 'ok');
      const ready = await c.call(id, 'GET', '/readyz', { token: null });
      t.equal(ready.status, 200, `${id} /readyz`);
      t.match(ready.body, { status: 'ready', detail: /leader is (fw1|fw2|wit)/ });
    }
    const openapi = await c.call('wit', 'GET', '/v1/openapi.json', { token: null });
    t.equal(openapi.status, 200);
    t.match(openapi.body, { openapi: /^3\./, paths: { '/v1/status': {}, '/v1/switchover': {} } });
  });

  await t.test('tokens and roles: 401 without a valid token, 403 below the role, always { code, message }', async (t) => {
    const before = await config(c, 'fw1', true);
    const noToken = await c.call('fw2', 'GET', '/v1/status', { token: null });
    isError(t, noToken, 401, 'UNAUTHENTICATED', /missing bearer token/);
    t.match(noToken.headers.get('www-authenticate'), /^Bearer/);
    isError(t, await c.call('fw2', 'GET', '/v1/status', { token: { raw: 'not-a-token' } }), 401, 'UNAUTHENTICATED', /invalid token/);
    isError(t, await c.call('fw2', 'GET', '/v1/status', { token: null, headers: { authorization: 'Basic abc' } }), 401, 'UNAUTHENTICATED', /malformed/);

    // Refused on the node asked (a follower here), before anything is forwarded.
    const settings = { ...BASE_SETTINGS, preferred: 'fw2' };
    isError(t, await c.call('fw2', 'PUT', '/v1/config', { token: 'viewer', json: settings }), 403, 'FORBIDDEN', /token "watcher" has role viewer; PUT \/v1\/config needs admin/);
    isError(t, await c.call('fw2', 'PUT', '/v1/config', { token: 'operator', json: settings }), 403, 'FORBIDDEN', /role operator; PUT \/v1\/config needs admin/);
    isError(t, await c.call('wit', 'PUT', '/v1/policy', { token: 'operator', json: { ruleset: '' } }), 403, 'FORBIDDEN');
    isError(t, await c.call('wit', 'POST', '/v1/backups', { token: 'operator', json: {} }), 403, 'FORBIDDEN');
    isError(t, await c.call('wit', 'POST', '/v1/switchover', { token: 'viewer', json: { to: 'fw2' } }), 403, 'FORBIDDEN', /needs operator/);
    isError(t, await c.call('wit', 'PUT', '/v1/members/fw1/maintenance', { token: 'viewer', json: { on: true } }), 403, 'FORBIDDEN');
    isError(t, await c.call('wit', 'GET', '/v1/nowhere', { token: 'viewer' }), 404, 'NOT_FOUND');
    isError(t, await c.call('wit', 'PUT', '/v1/config', { body: '{"vips": [', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');

    const after = await config(c, 'fw1', true);
    t.equal(after.revision, before.revision, 'no refused request changed the settings');
    const active = await c.status('fw1');
    t.equal(active.active?.node, 'fw1', 'and no refused switchover moved the role');
  });

  await t.test('R4: a monitor that fails on the active moves the role to the standby; healthy again, it fails back', async (t) => {
    const before = await c.waitForActive('fw1');
    const monitor = { name: 'uplink', kind: 'carrier', interface: 'uplink', intervalMs: 100, failAfter: 2, recoverAfter: 2 };
    const put = await c.call('fw2', 'PUT', '/v1/config', { json: { ...BASE_SETTINGS, monitors: [monitor] } });
    t.equal(put.status, 200, put.text);

    const moved = await c.waitForActive('fw2');
    t.equal(moved.active?.reason, 'resource-failure');
    t.ok((moved.active?.epoch ?? 0) > (before.active?.epoch ?? 0), 'a new epoch');
    const unhealthy = await c.waitFor('fw2 shows fw1 failed and the pair degraded', async () => {
      const s = await c.status('fw2');
      return s.conditions.some((x) => x.code === 'MEMBER_UNHEALTHY' && x.node === 'fw1') && s.conditions.some((x) => x.code === 'DEGRADED') ? s : null;
    });
    t.match(unhealthy.members.find((m) => m.id === 'fw1'), { health: 'failed', role: 'none' });
    t.match(unhealthy.conditions.find((x) => x.code === 'MEMBER_UNHEALTHY'), { message: /fw1 reports failed health \(down: uplink\)/ });

    const metrics = await c.call('fw2', 'GET', '/metrics', { token: 'viewer' });
    t.equal(
      metric(metrics.text, 'hapair_monitor_up', 'monitor="uplink"'),
      1,
      'hapair_monitor_up{monitor="uplink"} is 1 on fw2, whose uplink has carrier (BUG if null: src/node/agent.ts metricsSource().monitorHealth returns [])',
    );

    const healed = await c.call('fw2', 'PUT', '/v1/config', { json: BASE_SETTINGS });
    t.equal(healed.status, 200, healed.text);
    const back = await c.waitForActive('fw1');
    t.equal(back.active?.reason, 'failback', 'without the failing monitor fw1 is healthy and gets the role back');
  });

  await t.test('R2/R3: SIGKILL the active -> failover to fw2; restart fw1 -> failback to the preferred node', async (t) => {
    const before = await c.waitForActive('fw1');
    const epoch = before.active?.epoch ?? 0;
    const events = await c.events('fw2');
    t.teardown(() => events.close());

    await c.kill('fw1');
    const failover = await c.waitForActive('fw2');
    t.equal(failover.active?.reason, 'failover');
    t.ok((failover.active?.epoch ?? 0) > epoch, `a higher epoch: ${epoch} -> ${failover.active?.epoch}`);
    const roleEvent = await events.next('role event for the failover', (e) => e.type === 'role' && e.data['active'] === 'fw2');
    t.match(roleEvent.data, { previous: 'fw1', reason: 'failover', epoch: failover.active?.epoch });
    await events.next('member unreachable fw1', (e) => e.type === 'member' && e.data['node'] === 'fw1' && e.data['change'] === 'unreachable');

    // R12: the degraded state is loud in status.
    const degraded = await c.waitFor('fw2 reports fw1 unreachable and the cluster degraded', async () => {
      const s = await c.status('fw2');
      const codes = s.conditions.map((x) => x.code);
      return codes.includes('MEMBER_UNREACHABLE') && codes.includes('DEGRADED') ? s : null;
    });
    t.match(degraded.members.find((m) => m.id === 'fw1'), { reachable: false, health: 'unknown', role: 'none' });
    t.match(degraded.conditions.find((x) => x.code === 'MEMBER_UNREACHABLE'), { node: 'fw1', message: /fw1 is unreachable/ });
    t.match(degraded.conditions.find((x) => x.code === 'DEGRADED'), { severity: 'critical', message: /running without a standby/ });
    t.equal(degraded.conditions[0]?.severity, 'critical', 'the loudest condition comes first');
    const metrics = await c.call('fw2', 'GET', '/metrics', { token: 'viewer' });
    t.ok((metric(metrics.text, 'hapair_failovers_total', 'reason="failover"') ?? 0) >= 1, 'fw2 counted the failover');
    const took = metric(metrics.text, 'hapair_last_failover_duration_seconds', 'node="fw2"');
    t.ok(took !== null && took > 0, `fw2 measured the takeover: ${took} s`);

    // Two of three voters still commit.
    const note = await c.call('wit', 'POST', '/v1/notes', { token: 'operator', json: { text: 'fw1 crashed' } });
    t.equal(note.status, 200, `writes work with fw1 down: ${note.text}`);

    c.start('fw1');
    const failback = await c.waitForActive('fw1');
    t.equal(failback.active?.reason, 'failback', 'the preferred node gets the role back (R3, failback auto)');
    t.ok((failback.active?.epoch ?? 0) > (failover.active?.epoch ?? 0), 'with a higher epoch again');
    await events.next('member reachable fw1', (e) => e.type === 'member' && e.data['node'] === 'fw1' && e.data['change'] === 'reachable');
    const clear = await c.waitFor('the conditions clear on every node once fw1 is back', async () => {
      const all = await Promise.all(NODE_NAMES.map((id) => c.status(id)));
      return all.every((s) => s.conditions.length === 0) ? all : null;
    });
    t.ok(clear.every((s) => s.members.every((m) => m.reachable && m.health === 'healthy')), 'every node sees every member reachable and healthy');
  });

  await t.test('SIGTERM stops an agent cleanly (exit 0); the others keep the role and notice it is gone', async (t) => {
    const stopped = await c.stop('wit');
    t.same(stopped, { code: 0, signal: null }, `wit exited 0 on SIGTERM:\n${c.logs('wit').slice(-2000)}`);
    const s = await c.waitFor('fw1 reports wit unreachable', async () => {
      const x = await c.status('fw1');
      return x.members.find((m) => m.id === 'wit')?.reachable === false ? x : null;
    });
    t.equal(s.active?.node, 'fw1', 'fw1 is still active');
    t.match(s.conditions.find((x) => x.code === 'MEMBER_UNREACHABLE'), { node: 'wit', severity: 'warning' });
  });
});
