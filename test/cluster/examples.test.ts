/**
 * Every file in deploy/examples parses with the validators the agent and the
 * API use, and the files agree with each other (one cluster, one bootstrap
 * list, VIP interfaces every data node maps). The policy passes hapair's own
 * check and, where nft and root are available, `nft -c` (check only).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { parseTokensFile } from '../../src/auth/tokens.js';
import { loadNodeConfig, parseNodeConfig, type NodeConfig } from '../../src/config/node-config.js';
import { validateSettings } from '../../src/fsm/settings.js';
import { parsePolicy } from '../../src/network/linux/policy.js';
import { ROOT } from './harness.js';

const EXAMPLES = join(ROOT, 'deploy/examples');
const read = (name: string): string => readFileSync(join(EXAMPLES, name), 'utf8');

const NODES = { fw1: '10.0.0.11', fw2: '10.0.0.12', wit: '10.0.0.13' } as const;

t.test('node configs: fw1.yaml, fw2.yaml, wit.yaml', async (t) => {
  const configs: NodeConfig[] = [];
  for (const [id, ip] of Object.entries(NODES)) {
    const file = join(EXAMPLES, `${id}.yaml`);
    const config = loadNodeConfig(file);
    t.same(parseNodeConfig(read(`${id}.yaml`), file), config, `${id}: parseNodeConfig and loadNodeConfig agree`);
    t.equal(config.node.id, id);
    t.equal(config.node.kind, id === 'wit' ? 'witness' : 'data');
    t.equal(config.node.dataDir, '/var/lib/hapair', 'the state directory of the systemd unit');
    t.equal(config.peer.listen, `${ip}:7400`);
    t.equal(config.api.listen, `${ip}:7480`);
    t.equal(config.api.tokensFile, '/etc/hapair/tokens.yaml');
    t.equal(config.cluster.name, 'edge');
    const self = config.cluster.bootstrap?.find((m) => m.id === id);
    t.same(self, { id, peer: config.peer.listen, api: config.api.listen, kind: config.node.kind }, `${id}: its bootstrap entry is itself`);
    configs.push(config);
  }
  const [fw1, fw2, wit] = configs as [NodeConfig, NodeConfig, NodeConfig];
  t.same(fw2.cluster.bootstrap, fw1.cluster.bootstrap, 'the same bootstrap list on fw2');
  t.same(wit.cluster.bootstrap, fw1.cluster.bootstrap, 'and on wit');
  t.equal(fw1.network.driver, 'linux');
  t.equal(fw2.network.driver, 'linux');
  t.same(fw2.network.interfaces, fw1.network.interfaces, 'both data nodes map the same logical interfaces');
});

t.test('fw2-join.yaml: the same fw2, added to a cluster in service (cluster.join instead of cluster.bootstrap)', async (t) => {
  const file = join(EXAMPLES, 'fw2-join.yaml');
  const joiner = loadNodeConfig(file);
  const fw2 = loadNodeConfig(join(EXAMPLES, 'fw2.yaml'));
  const fw1 = loadNodeConfig(join(EXAMPLES, 'fw1.yaml'));
  t.equal(joiner.cluster.bootstrap, undefined);
  t.same(joiner.cluster.join, [{ id: 'fw1', peer: fw1.peer.listen }], 'it names the member in service at its peer address');
  t.same(joiner.node, fw2.node);
  t.equal(joiner.peer.listen, fw2.peer.listen);
  t.equal(joiner.api.listen, fw2.api.listen);
  t.equal(joiner.cluster.name, fw1.cluster.name);
  t.same(joiner.network, fw2.network, 'the same devices as fw2.yaml');
  t.match(read('fw2-join.yaml'), /hapair join --api http:\/\/10\.0\.0\.11:7480 --node-api 10\.0\.0\.12:7480/, 'it says how to join');
});

t.test('tokens.yaml', async (t) => {
  const entries = parseTokensFile(read('tokens.yaml'), 'tokens.yaml');
  t.same(
    entries.map((e) => [e.name, e.role]),
    [
      ['ops', 'admin'],
      ['oncall', 'operator'],
      ['prometheus', 'viewer'],
    ],
  );
  t.match(read('tokens.yaml'), /hapair init --tokens-file/, 'it says how to make a token');
  t.match(read('tokens.yaml'), /sha256sum/, 'and how to hash one by hand');
});

t.test('settings.yaml', async (t) => {
  const members = [
    { id: 'fw1', kind: 'data' as const },
    { id: 'fw2', kind: 'data' as const },
    { id: 'wit', kind: 'witness' as const },
  ];
  const result = validateSettings(parseYaml(read('settings.yaml')), { members });
  t.ok(result.ok, result.ok ? 'valid' : JSON.stringify(result.errors));
  if (!result.ok) return;
  const s = result.settings;
  t.equal(s.preferred, 'fw1');
  t.same(s.failback, { auto: true, holdDownMs: 5000 });
  t.same(s.timers, { heartbeatMs: 100, electionTimeoutMs: 800 });
  t.ok(s.vips.some((v) => v.address === '10.0.0.1/24' && v.interface === 'lan'), 'the VIP of MISSION.md');
  const fw1 = loadNodeConfig(join(EXAMPLES, 'fw1.yaml'));
  const mapped = Object.keys(fw1.network.interfaces ?? {});
  for (const vip of s.vips) t.ok(mapped.includes(vip.interface), `${vip.address}: interface ${vip.interface} is mapped on the data nodes`);
  for (const m of s.monitors) {
    if (m.kind === 'carrier') t.ok(mapped.includes(m.interface), `monitor ${m.name}: interface ${m.interface} is mapped`);
  }
});

t.test('policy.nft', async (t) => {
  const ruleset = read('policy.nft');
  const parsed = parsePolicy(ruleset);
  t.ok(parsed.ok, parsed.ok ? 'hapair accepts it' : parsed.error);
  if (parsed.ok) {
    t.same(
      parsed.tables.map((x) => `${x.family} ${x.name}`),
      ['inet edge_filter', 'ip edge_nat'],
    );
  }
  // The wrapping the file's header tells operators to do, done the same way, gives back the ruleset.
  const wrapped = `ruleset: |\n${ruleset.split('\n').slice(0, -1).map((line) => `  ${line}`).join('\n')}\n`;
  t.same(parseYaml(wrapped), { ruleset }, 'wrapped as policy.yaml it is the same text');

  const nft = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p));
  const root = process.getuid?.() === 0;
  await t.test('nft -c accepts it', { skip: nft === undefined ? 'nft is not installed' : !root ? 'nft -c needs root' : false }, async (t) => {
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = execFile(nft as string, ['-c', '-f', '-'], { timeout: 20_000 }, (error, _stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr });
      });
      child.stdin?.end(ruleset);
    });
    t.equal(result.code, 0, result.stderr);
  });
});

t.test('the systemd unit', async (t) => {
  const unit = readFileSync(join(ROOT, 'deploy/systemd/hapair.service'), 'utf8');
  const settings = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  const one = (key: string): string | undefined => settings.get(key)?.[0];
  t.equal(one('Type'), 'simple');
  t.equal(one('ExecStart'), '/usr/bin/hapair agent --config /etc/hapair/node.yaml');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('ReadWritePaths'), '/var/lib/hapair');
  t.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW');
  t.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_RAW');
  for (const family of ['AF_NETLINK', 'AF_PACKET', 'AF_INET', 'AF_INET6']) {
    t.ok(one('RestrictAddressFamilies')?.split(' ').includes(family), `RestrictAddressFamilies allows ${family}`);
  }
  t.notOk(settings.has('MemoryDenyWriteExecute'), 'not MemoryDenyWriteExecute: V8 needs executable memory');
  t.notOk(settings.has('PrivateNetwork'), 'not PrivateNetwork: the agent manages the host network');
  t.notOk(settings.has('ProtectProc'), 'not ProtectProc=invisible: process monitors scan /proc');
});
