/**
 * R5 and R7 over real processes on loopback (sim driver): one node in
 * service, a new data node added to it with `hapair join` (version and
 * cluster.join checked first, a snapshot brings the settings, policy and
 * notes), then a witness; each flow ends with the setup check, which fails
 * loudly on a VIP whose interface a node does not map, and passes once the
 * node config is fixed. `hapair leave` dissolves the cluster again, node by
 * node, checking what stays. The member events (joined, left) come along.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import type { NodeInfo } from '../../src/api/schemas.js';
import { BASE_SETTINGS, ROOT, runCli, startCluster, type NodeName, type TestCluster } from './harness.js';

async function nodeInfo(c: TestCluster, id: NodeName): Promise<NodeInfo> {
  const r = await c.call(id, 'GET', '/v1/node', { token: 'viewer', timeoutMs: 5_000 });
  if (r.status !== 200) throw new Error(`GET /v1/node on ${id}: HTTP ${r.status} ${r.text}`);
  return r.body as unknown as NodeInfo;
}

async function notes(c: TestCluster, id: NodeName): Promise<{ count: number; xor: string }> {
  const r = await c.call(id, 'GET', '/v1/notes', { token: 'viewer' });
  return r.body as unknown as { count: number; xor: string };
}

t.test('R5/R7: a node in service, a data node and a witness join, then leave', async (t) => {
  const c = await startCluster(t, { name: 'jointest', bootstrap: ['fw1'], snapshotEveryEntries: 32 });
  const events = await c.events('fw1');
  t.teardown(() => events.close());

  await t.test('fw1 serves alone; with a policy and enough history its log is compacted', async (t) => {
    const s = await c.status('fw1');
    t.match(s, { mode: 'single', active: { node: 'fw1' } });
    t.same(s.members.map((m) => m.id), ['fw1']);
    const ruleset = readFileSync(join(ROOT, 'deploy/examples/policy.nft'), 'utf8');
    const policy = await c.call('fw1', 'PUT', '/v1/policy', { json: { ruleset } });
    t.equal(policy.status, 200, policy.text);
    for (let i = 0; i < 40; i++) {
      const r = await c.call('fw1', 'POST', '/v1/notes', { token: 'operator', json: { text: `history ${i}` } });
      t.equal(r.status, 200, r.text);
    }
    const info = await c.waitFor('fw1 has compacted its log', async () => {
      const i = await nodeInfo(c, 'fw1');
      return i.raft.snapshotIndex > 0 ? i : null;
    });
    t.ok(info.check.ok, `fw1's own setup check passes: ${info.check.problems.join('; ')}`);
    t.same(info.check.vips, [{ address: '192.0.2.1/24', interface: 'lan', device: 'lan0', problem: null }]);
  });

  await t.test('hapair init --settings applies the settings and ends with the setup check, which an unmapped interface fails', async (t) => {
    const dmz = join(c.dir, 'dmz.yaml');
    writeFileSync(dmz, stringify({ ...BASE_SETTINGS, vips: [...BASE_SETTINGS.vips, { address: '198.51.100.1/24', interface: 'dmz' }] }));
    const bad = await runCli(c, ['init', '--settings', dmz, '--wait', '3']);
    t.equal(bad.code, 1, 'the flow refuses to finish');
    t.match(bad.stdout, new RegExp(`^settings from ${dmz.replaceAll('/', '\\/')} applied: config revision \\d+\n`));
    t.equal(bad.stderr, `error: setup check failed: fw1: VIP 198.51.100.1/24 names interface "dmz", which network.interfaces in fw1's node config does not map to a device\n`);
    const good = join(c.dir, 'settings.yaml');
    writeFileSync(good, stringify(BASE_SETTINGS));
    const r = await runCli(c, ['init', '--settings', good, '--wait', '10']);
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /^setup check passed: 1 member of jointest/m);
  });

  await t.test('hapair join fw2: a snapshot brings the state; the setup check refuses an unmapped VIP interface', async (t) => {
    // fw2's node config maps only "wan": the VIP's interface "lan" is missing.
    c.writeConfig('fw2', { join: ['fw1'], interfaces: { wan: 'wan0' } });
    c.start('fw2');
    const fresh = await c.waitFor('fw2 answers', () => nodeInfo(c, 'fw2'));
    t.match(fresh, { node: 'fw2', membership: 'none', join: [{ id: 'fw1', peer: c.peer('fw1') }], configRevision: 0 });

    const r = await runCli(c, ['join', '--node-api', c.api('fw2'), '--wait', '20'], { via: 'fw1' });
    t.equal(r.code, 1, `the flow refuses to finish:\n${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /^fw2 joined; members: fw1 \(data\), fw2 \(data\)\n/);
    t.match(r.stdout, /setup check FAILED for jointest:/);
    t.match(
      r.stderr,
      /^error: setup check failed: fw2: VIP 192\.0\.2\.1\/24 names interface "lan", which network\.interfaces in fw2's node config does not map to a device\n$/,
    );

    const [one, two] = await Promise.all([nodeInfo(c, 'fw1'), nodeInfo(c, 'fw2')]);
    t.equal(two.membership, 'voter');
    t.equal(two.configRevision, one.configRevision, 'the same settings revision');
    t.equal(two.settingsSha256, one.settingsSha256, 'identical settings (R6)');
    t.equal(two.policySha256, one.policySha256, 'identical policy (R6)');
    t.ok(two.policyRevision > 0);
    t.same(await notes(c, 'fw2'), await notes(c, 'fw1'), 'the notes made before fw2 existed are there too');
    t.ok(one.raft.snapshotIndex > 0, 'fw1 had compacted its log: fw2 could only get the early state by snapshot');

    const s = await c.waitFor('fw2 raises SETUP_INVALID', async () => {
      const x = await c.status('fw2');
      return x.conditions.some((k) => k.code === 'SETUP_INVALID') ? x : null;
    });
    t.match(s.conditions.find((k) => k.code === 'SETUP_INVALID'), { node: 'fw2', severity: 'critical', message: /interface "lan"/ });
    await events.next('member joined fw2', (e) => e.type === 'member' && e.data['node'] === 'fw2' && e.data['change'] === 'joined');

    // fw2 reports its check to the cluster: the pair is degraded, and the role cannot go to fw2 (it could not add the VIP).
    const unmapped = /fw2 cannot hold the VIPs: fw2: VIP 192\.0\.2\.1\/24 names interface "lan", which network\.interfaces in fw2's node config does not map to a device/;
    const degraded = await c.waitFor('fw1 says fw2 cannot hold the VIPs', async () => {
      const x = await c.status('fw1');
      return x.conditions.find((k) => k.code === 'DEGRADED' && unmapped.test(k.message)) ?? null;
    });
    t.match(degraded, { severity: 'critical', message: /running without a standby/ }, degraded.message);
    const refused = await c.call('fw1', 'POST', '/v1/switchover', { json: { to: 'fw2' } });
    t.equal(refused.status, 409, 'a switchover to fw2 is refused');
    t.match(refused.body, { code: 'SWITCHOVER_REFUSED', message: unmapped }, refused.text);

    const verify = await runCli(c, ['verify', '--wait', '0'], { token: 'viewer' });
    t.equal(verify.code, 1, 'hapair verify says the same');
    t.match(verify.stderr, /fw2: VIP 192\.0\.2\.1\/24 names interface "lan"/);
  });

  await t.test('fixing the node config and restarting the agent makes hapair verify pass', async (t) => {
    await c.stop('fw2');
    c.writeConfig('fw2', { join: ['fw1'] });
    c.start('fw2');
    const r = await runCli(c, ['verify', '--wait', '30'], { token: 'viewer', via: 'fw2' });
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /^setup check passed: 2 members of jointest hold settings revision \d+ and policy revision \d+/);
    t.match(r.stdout, /^ {2}fw2 +data +ok .*VIPs 192\.0\.2\.1\/24 on lan -> lan0$/m);
    const json = await runCli(c, ['--json', 'verify'], { token: 'viewer' });
    t.equal(json.code, 0, json.stderr);
    t.match(JSON.parse(json.stdout), { setupCheck: { ok: true, problems: [], members: [{ id: 'fw1' }, { id: 'fw2' }] } });
    await c.waitFor('fw2 no longer raises SETUP_INVALID', async () => !(await c.status('fw2')).conditions.some((k) => k.code === 'SETUP_INVALID'));
  });

  await t.test('the witness: refused while its cluster.join misses a member, then joined through a follower', async (t) => {
    c.writeConfig('wit', { join: ['fw1'] });
    c.start('wit');
    await c.waitFor('wit answers', () => nodeInfo(c, 'wit'));
    const refused = await runCli(c, ['join', '--node-api', c.api('wit')], { via: 'fw2' });
    t.equal(refused.code, 1);
    t.equal(
      refused.stderr,
      `error: wit could not answer the leader before it is a member: cluster.join in its node config must list every member of the running cluster (add { id: fw2, peer: ${c.peer('fw2')} }); fix it and restart its agent\n`,
    );
    t.same((await c.status('fw1')).members.map((m) => m.id), ['fw1', 'fw2'], 'nothing changed');

    await c.stop('wit');
    c.writeConfig('wit', { join: ['fw1', 'fw2'] });
    c.start('wit');
    await c.waitFor('wit answers', () => nodeInfo(c, 'wit'));
    const r = await runCli(c, ['join', '--node-api', c.api('wit'), '--wait', '30'], { via: 'fw2' });
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /^wit joined; members: fw1 \(data\), fw2 \(data\), wit \(witness\)\n/);
    t.match(r.stdout, /^setup check passed: 3 members of jointest/m);
    const s = await c.waitFor('fw1 sees a cluster with a witness and no conditions', async () => {
      const x = await c.status('fw1');
      return x.mode === 'witness' && x.conditions.length === 0 ? x : null;
    });
    t.same(s.members.map((m) => [m.id, m.voter]), [['fw1', true], ['fw2', true], ['wit', true]]);
    const again = await runCli(c, ['join', '--node-api', c.api('wit'), '--wait', '30'], { via: 'fw1' });
    t.equal(again.code, 0, `joining a member again only checks it: ${again.stderr}`);
  });

  await t.test('a join the cluster cannot take is refused with the reason', async (t) => {
    const third = await c.call('fw1', 'POST', '/v1/members', { json: { id: 'fw3', kind: 'data', peer: '127.0.0.1:9', api: '127.0.0.1:9' } });
    t.equal(third.status, 409);
    t.match(third.body, { code: 'MEMBERSHIP_REFUSED', message: /already has 2 data nodes \(fw1, fw2\)/ });
    const moved = await c.call('fw1', 'POST', '/v1/members', { json: { id: 'wit', kind: 'witness', peer: '127.0.0.1:9', api: '127.0.0.1:9' } });
    t.match(moved.body, { code: 'MEMBERSHIP_REFUSED', message: /wit is already a member \(witness at 127\.0\.0\.1:\d+\); to change it, remove it first/ });
    const version = await c.call('fw2', 'POST', '/v1/members', { json: { id: 'wit2', kind: 'witness', peer: '127.0.0.1:9', api: '127.0.0.1:9', version: '0.0.1' } });
    t.match(version.body, { code: 'VERSION_MISMATCH', message: /wit2 runs version 0\.0\.1/ });
  });

  await t.test('hapair leave: the witness, then the other data node; each ends with a passing setup check', async (t) => {
    const w = await runCli(c, ['leave', 'wit', '--wait', '30']);
    t.equal(w.code, 0, `${w.stdout}\n${w.stderr}`);
    t.match(w.stdout, /^wit left; members: fw1 \(data\), fw2 \(data\)\n/);
    t.match(w.stdout, /^setup check passed: 2 members/m);
    await events.next('member left wit', (e) => e.type === 'member' && e.data['node'] === 'wit' && e.data['change'] === 'left');
    // Its agent still runs: it knows it is out, and says so.
    const removed = await c.waitFor('wit shows REMOVED', async () => {
      const s = await c.status('wit');
      return s.conditions.find((x) => x.code === 'REMOVED') ?? null;
    });
    t.match(removed, { severity: 'warning', node: 'wit', message: /^wit was removed from the cluster and takes no part in it any more: stop its agent/ });
    t.notOk((await c.status('fw1')).conditions.some((x) => x.code === 'REMOVED'), 'the members left show nothing of it');

    const active = (await c.status('fw1')).active?.node;
    t.equal(active, 'fw1');
    const refused = await runCli(c, ['leave', 'fw1']);
    t.equal(refused.code, 1);
    t.match(refused.stderr, /^error: fw1 holds the active role: switch over to another node first \(MEMBERSHIP_REFUSED\)\n$/);

    const f = await runCli(c, ['leave', 'fw2', '--wait', '30']);
    t.equal(f.code, 0, `${f.stdout}\n${f.stderr}`);
    t.match(f.stdout, /^fw2 left; members: fw1 \(data\)\n/);
    t.match(f.stdout, /^setup check passed: 1 member of jointest/m);
    const s = await c.status('fw1');
    t.match(s, { mode: 'single', active: { node: 'fw1' } });
  });
});
