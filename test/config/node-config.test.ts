import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadNodeConfig, parseNodeConfig } from '../../src/config/node-config.js';

const GOOD = `
node:
  id: fw1
  kind: data
  dataDir: ./data
peer:
  listen: 10.0.0.11:7400
api:
  listen: 10.0.0.11:7480
  tokensFile: tokens.yaml
cluster:
  name: edge
  bootstrap:
    - { id: fw1, peer: 10.0.0.11:7400, api: 10.0.0.11:7480, kind: data }
    - { id: fw2, peer: 10.0.0.12:7400, api: 10.0.0.12:7480, kind: data }
    - { id: wit, peer: 10.0.0.13:7400, api: 10.0.0.13:7480, kind: witness }
network:
  driver: linux
  interfaces: { lan: eth1, wan: eth0 }
`;

function problem(text: string): string {
  try {
    parseNodeConfig(text, '/etc/hapair/node.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'no error';
}

t.test('the MISSION.md example parses, paths resolve against the file', async (t) => {
  const c = parseNodeConfig(GOOD, '/etc/hapair/node.yaml');
  t.equal(c.node.id, 'fw1');
  t.equal(c.node.dataDir, '/etc/hapair/data');
  t.equal(c.api.tokensFile, '/etc/hapair/tokens.yaml');
  t.equal(c.cluster.bootstrap?.length, 3);
  t.same(c.network.interfaces, { lan: 'eth1', wan: 'eth0' });
});

t.test('a typo in a key is named with the file', async (t) => {
  t.equal(problem(GOOD.replace('dataDir', 'datadir')), '/etc/hapair/node.yaml: node.datadir: unknown key');
  t.equal(
    problem(GOOD.replace('interfaces: {', 'interface: {')),
    '/etc/hapair/node.yaml: network.interface: unknown key',
  );
});

t.test('a wrong type or value names the key and what was found', async (t) => {
  t.match(problem(GOOD.replace('kind: data\n  dataDir', 'kind: firewall\n  dataDir')), /^\/etc\/hapair\/node\.yaml: node\.kind: .*got "firewall"$/);
  t.match(problem(GOOD.replace('driver: linux', 'driver: 7')), /network\.driver: .*got 7$/);
  t.equal(problem(GOOD.replace('  listen: 10.0.0.11:7480\n', '')), '/etc/hapair/node.yaml: api.listen: is required');
  t.equal(problem(GOOD.replace('  listen: 10.0.0.11:7400\n', '')), '/etc/hapair/node.yaml: peer: expected object, got null');
});

t.test('bad addresses are refused', async (t) => {
  t.equal(
    problem(GOOD.replace('listen: 10.0.0.11:7480', 'listen: 10.0.0.11:99999')),
    '/etc/hapair/node.yaml: api.listen: port must be 1-65535, got "99999"',
  );
  t.match(problem(GOOD.replace('listen: 10.0.0.11:7400', 'listen: 10.0.0.11')), /peer\.listen: must be host:port/);
  t.match(problem(GOOD.replace('peer: 10.0.0.12:7400', 'peer: "[zz::1]:7400"')), /cluster\.bootstrap\.1\.peer: not an IPv6 address/);
});

t.test('bootstrap must list this node with its kind and a sane shape', async (t) => {
  t.match(problem(GOOD.replace('id: fw1\n  kind', 'id: fw9\n  kind')), /cluster\.bootstrap: does not list this node \("fw9"\)/);
  t.match(problem(GOOD.replace('id: fw2,', 'id: fw1,')), /cluster\.bootstrap\.1\.id: duplicate member id "fw1"/);
  t.match(problem(GOOD.replace('kind: witness', 'kind: data')), /needs 1 or 2 data members, got 3/);
});

t.test('invalid YAML and missing files are clear errors', async (t) => {
  t.match(problem('node: [unclosed'), /^\/etc\/hapair\/node\.yaml: invalid YAML/);
  t.match(problem(`${GOOD}\nnode:\n  id: x\n`), /invalid YAML at line 2[0-9]: /);
  const dir = mkdtempSync(join(tmpdir(), 'hapair-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope.yaml');
  t.throws(() => loadNodeConfig(missing), { message: `${missing}: file not found` });
  const file = join(dir, 'node.yaml');
  writeFileSync(file, GOOD);
  t.equal(loadNodeConfig(file).node.dataDir, join(dir, 'data'));
});

/** A node that joins a running cluster: fw2 names the members it can reach until it has the membership. */
const JOINER = `
node:
  id: fw2
  kind: data
  dataDir: ./data
peer:
  listen: 10.0.0.12:7400
api:
  listen: 10.0.0.12:7480
cluster:
  name: edge
  join:
    - { id: fw1, peer: 10.0.0.11:7400 }
    - { id: wit, peer: "[2001:db8::13]:7400" }
network:
  driver: sim
`;

t.test('cluster.join lists the members of the running cluster a new node joins', async (t) => {
  const c = parseNodeConfig(JOINER, '/etc/hapair/node.yaml');
  t.same(c.cluster.join, [
    { id: 'fw1', peer: '10.0.0.11:7400' },
    { id: 'wit', peer: '[2001:db8::13]:7400' },
  ]);
  t.equal(c.cluster.bootstrap, undefined);
});

t.test('cluster.join errors name the key and the problem', async (t) => {
  const file = '/etc/hapair/node.yaml';
  const err = (text: string): string => {
    try {
      parseNodeConfig(text, file);
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    return 'no error';
  };
  t.equal(err(JOINER.replace('id: fw1, peer', 'id: fw1, api: 10.0.0.11:7480, peer')), `${file}: cluster.join.0.api: unknown key`);
  t.equal(err(JOINER.replace('{ id: fw1, peer: 10.0.0.11:7400 }', '{ peer: 10.0.0.11:7400 }')), `${file}: cluster.join.0.id: is required`);
  t.equal(err(JOINER.replace('peer: 10.0.0.11:7400 }', 'peer: 10.0.0.11 }')), `${file}: cluster.join.0.peer: must be host:port or [ipv6]:port, got "10.0.0.11"`);
  t.equal(err(JOINER.replace('id: wit', 'id: fw1')), `${file}: cluster.join.1.id: duplicate member id "fw1"`);
  t.equal(
    err(JOINER.replace('id: wit', 'id: fw2')),
    `${file}: cluster.join.1.id: lists this node ("fw2"); list the members of the running cluster this node joins`,
  );
  t.equal(err(JOINER.replace('  join:\n', '  join: []\n  x:\n')), `${file}: cluster.x: unknown key`);
  t.match(err(JOINER.replace('  join:\n    - { id: fw1, peer: 10.0.0.11:7400 }\n    - { id: wit, peer: "[2001:db8::13]:7400" }\n', '  join: []\n')), /^\/etc\/hapair\/node\.yaml: cluster\.join: .*got \[\]$/);
  t.match(
    err(JOINER.replace('  join:\n', '  bootstrap:\n    - { id: fw2, peer: 10.0.0.12:7400, api: 10.0.0.12:7480, kind: data }\n  join:\n')),
    /^\/etc\/hapair\/node\.yaml: cluster\.join: cannot be combined with cluster\.bootstrap/,
  );
});

t.test('raft.snapshotEveryEntries is a node-local bound', async (t) => {
  t.equal(parseNodeConfig(`${JOINER}raft: { snapshotEveryEntries: 64 }\n`, 'n.yaml').raft?.snapshotEveryEntries, 64);
  t.match(problem(`${GOOD}raft: { snapshotEveryEntries: 2 }\n`), /raft\.snapshotEveryEntries: .*got 2$/);
  t.equal(problem(`${GOOD}raft: { snapshotEvery: 100 }\n`), '/etc/hapair/node.yaml: raft.snapshotEvery: unknown key');
});
