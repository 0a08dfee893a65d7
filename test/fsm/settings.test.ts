import t from 'tap';
import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_SETTINGS,
  DEFAULTS,
  formatSettingsErrors,
  monitorsRunBy,
  ownMonitorNames,
  parsePrefix,
  validateSettings,
  type SettingsContext,
} from '../../src/fsm/settings.js';

// The example from MISSION.md, verbatim.
const MISSION_EXAMPLE = `
vips:
  - { address: 10.0.0.1/24, interface: lan }
preferred: fw1
failback: { auto: true, holdDownMs: 5000 }
timers: { heartbeatMs: 100, electionTimeoutMs: 1000 }
monitors:
  - { name: upstream, kind: ping, target: 10.0.0.254, intervalMs: 500, failAfter: 3, recoverAfter: 3 }
  - { name: fwd, kind: process, pidFile: /run/fwd.pid, intervalMs: 500, failAfter: 2, recoverAfter: 2 }
`;

const MEMBERS: SettingsContext = {
  members: [
    { id: 'fw1', kind: 'data' },
    { id: 'fw2', kind: 'data' },
    { id: 'wit', kind: 'witness' },
  ],
};

function base(): Record<string, unknown> {
  return parseYaml(MISSION_EXAMPLE) as Record<string, unknown>;
}

/** The one-line error for a document, or 'ok'. */
function error(doc: unknown, context: SettingsContext = MEMBERS): string {
  const r = validateSettings(doc, context);
  return r.ok ? 'ok' : formatSettingsErrors(r.errors);
}

function withPatch(patch: (d: Record<string, unknown>) => void): Record<string, unknown> {
  const d = base();
  patch(d);
  return d;
}

t.test('the MISSION.md example is valid and defaults fill the rest', async (t) => {
  const r = validateSettings(base(), MEMBERS);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.settings.preferred, 'fw1');
  t.same(r.settings.flapDamping, DEFAULTS.flapDamping);
  t.same(r.settings.hooks, []);
  const ping = r.settings.monitors[0];
  t.equal(ping?.kind, 'ping');
  t.equal(ping?.timeoutMs, 500, 'timeout defaults to the interval (capped)');
});

t.test('an empty document gives the defaults', async (t) => {
  const r = validateSettings({});
  t.ok(r.ok);
  if (r.ok) t.same(r.settings, DEFAULT_SETTINGS);
});

t.test('the MISSION.md error example, exactly (CONFIG_INVALID message)', async (t) => {
  t.equal(
    error(withPatch((d) => ((d['failback'] as Record<string, unknown>)['holdDownMs'] = '5s'))),
    'failback.holdDownMs: must be an integer >= 0, got "5s"',
  );
  t.equal(
    error(withPatch((d) => ((d['failback'] as Record<string, unknown>)['holdDownMs'] = -1))),
    'failback.holdDownMs: must be an integer >= 0, got -1',
  );
});

t.test('typos are unknown keys, with a suggestion when close', async (t) => {
  t.equal(
    error(withPatch((d) => (d['failback'] = { auto: true, holdDownMS: 5000 }))),
    'failback.holdDownMS: unknown key (did you mean "holdDownMs"?)',
  );
  t.equal(error(withPatch((d) => (d['prefered'] = 'fw1'))), 'prefered: unknown key (did you mean "preferred"?)');
  t.equal(error(withPatch((d) => (d['colour'] = 'red'))), 'colour: unknown key');
  t.equal(
    error(withPatch((d) => ((d['monitors'] as Record<string, unknown>[])[0]!['pidFile'] = '/run/x.pid'))),
    'monitors.0.pidFile: unknown key',
    'a key of another monitor kind is unknown for this kind',
  );
});

t.test('wrong types name the key and what was found', async (t) => {
  t.equal(error(withPatch((d) => (d['failback'] = { auto: 'yes' }))), 'failback.auto: must be true or false, got "yes"');
  t.equal(error(withPatch((d) => (d['vips'] = 'x'))), 'vips: must be a list, got "x"');
  t.equal(error(withPatch((d) => (d['timers'] = 5))), 'timers: must be a mapping of keys to values, got 5');
  t.equal(error(withPatch((d) => (d['vips'] = [{ address: '10.0.0.1/24' }]))), 'vips.0.interface: is required');
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'x', kind: 'icmp', target: '10.0.0.1' }]))),
    'monitors.0.kind: must be one of "ping", "tcp", "http", "process", "systemd", "command", "carrier", got "icmp"',
  );
  t.equal(error(withPatch((d) => (d['monitors'] = [{ name: 'x', kind: 'ping' }]))), 'monitors.0.target: is required');
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'bad name', kind: 'systemd', unit: 'x' }]))),
    'monitors.0.name: must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit, got "bad name"',
  );
  t.equal(error(withPatch((d) => (d['hooks'] = [{ on: 'master', command: 'x' }]))), 'hooks.0.on: must be one of "active", "standby", "any", got "master"');
});

t.test('several errors join on one line', async (t) => {
  t.equal(
    error(withPatch((d) => (d['failback'] = { auto: 1, holdDownMs: 1.5 }))),
    'failback.auto: must be true or false, got 1; failback.holdDownMs: must be an integer >= 0, got 1.5',
  );
});

t.test('addresses: IPv4 and IPv6 prefixes, duplicates', async (t) => {
  const vips = (list: unknown[]) => withPatch((d) => (d['vips'] = list));
  t.equal(error(vips([{ address: '2001:db8::1/64', interface: 'lan' }, { address: '10.0.0.1/24', interface: 'wan' }])), 'ok');
  t.equal(
    error(vips([{ address: '10.0.0.300/24', interface: 'lan' }])),
    'vips.0.address: not an IPv4 or IPv6 address: "10.0.0.300" (like 10.0.0.1/24 or 2001:db8::1/64)',
  );
  t.equal(
    error(vips([{ address: '10.0.0.1', interface: 'lan' }])),
    'vips.0.address: must be an address with a prefix length (like 10.0.0.1/24 or 2001:db8::1/64), got "10.0.0.1"',
  );
  t.equal(error(vips([{ address: '10.0.0.1/33', interface: 'lan' }])), 'vips.0.address: prefix length must be 1-32 for IPv4, got "33"');
  t.equal(error(vips([{ address: 'fe80::1/129', interface: 'lan' }])), 'vips.0.address: prefix length must be 1-128 for IPv6, got "129"');
  t.equal(
    error(vips([{ address: '10.0.0.1/24', interface: 'lan' }, { address: '10.0.0.1/25', interface: 'wan' }])),
    'vips.1.address: duplicate VIP 10.0.0.1 (also vips.0.address)',
  );
  t.equal(
    error(vips([{ address: '2001:db8::1/64', interface: 'lan' }, { address: '2001:DB8:0:0::0001/64', interface: 'lan' }])),
    'vips.1.address: duplicate VIP 2001:DB8:0:0::0001 (also vips.0.address)',
    'IPv6 duplicates are found in any spelling',
  );
  t.match(parsePrefix('::ffff:10.0.0.1/96'), { family: 6, key: '0000:0000:0000:0000:0000:ffff:0a00:0001' });
});

t.test('preferred must name a data member when members are known', async (t) => {
  t.equal(error(withPatch((d) => (d['preferred'] = 'wit'))), 'preferred: "wit" is not a data member (data members: fw1, fw2)');
  t.equal(error(withPatch((d) => (d['preferred'] = 'fw3')), {}), 'ok', 'no members given: not checked');
  t.equal(error(withPatch((d) => (d['preferred'] = null))), 'ok');
});

t.test('a monitor `of` a node (R10) names a data member; it is null when not given', async (t) => {
  const watch = (of: unknown) => withPatch((d) => (d['monitors'] = [{ name: 'sees-fw1', kind: 'ping', target: '10.0.0.11', of }]));
  const r = validateSettings(watch('fw1'), MEMBERS);
  t.equal(r.ok && r.settings.monitors[0]?.of, 'fw1');
  const plain = validateSettings(base(), MEMBERS);
  t.same(plain.ok && plain.settings.monitors.map((m) => m.of), [null, null], 'own monitors: of is null');
  t.equal(error(watch('wit')), 'monitors.0.of: "wit" is not a data member (data members: fw1, fw2)');
  t.equal(error(watch('fw9')), 'monitors.0.of: "fw9" is not a data member (data members: fw1, fw2)');
  t.equal(error(watch('fw9'), {}), 'ok', 'no members given: not checked');
  t.equal(error(watch(null)), 'ok');
  t.match(error(watch('no spaces')), /^monitors\.0\.of: /);
});

t.test('monitorsRunBy: a node never runs the monitors of itself', async (t) => {
  const r = validateSettings(
    withPatch((d) => {
      d['monitors'] = [
        { name: 'upstream', kind: 'ping', target: '10.0.0.254' },
        { name: 'sees-fw1', kind: 'ping', target: '10.0.0.11', of: 'fw1' },
        { name: 'sees-fw2', kind: 'ping', target: '10.0.0.12', of: 'fw2' },
      ];
    }),
    MEMBERS,
  );
  if (!r.ok) return t.fail(formatSettingsErrors(r.errors));
  t.same(monitorsRunBy(r.settings.monitors, 'fw1').map((m) => m.name), ['upstream', 'sees-fw2']);
  t.same(monitorsRunBy(r.settings.monitors, 'wit').map((m) => m.name), ['upstream', 'sees-fw1', 'sees-fw2']);
  t.same([...ownMonitorNames(r.settings.monitors)], ['upstream']);
});

t.test('timer relations and monitor fields', async (t) => {
  t.equal(
    error(withPatch((d) => (d['timers'] = { heartbeatMs: 100, electionTimeoutMs: 300 }))),
    'timers.electionTimeoutMs: must be at least 5 x timers.heartbeatMs (500), got 300',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'up', kind: 'ping', target: 'gateway' }]))),
    'monitors.0.target: must be an IPv4 or IPv6 address, got "gateway"',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'api', kind: 'tcp', target: '10.0.0.1' }]))),
    'monitors.0.target: must be host:port or [ipv6]:port, got "10.0.0.1"',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'web', kind: 'http', url: 'ftp://x' }]))),
    'monitors.0.url: must be an http:// or https:// URL, got "ftp://x"',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'p', kind: 'process', pidFile: 'run/x.pid' }]))),
    'monitors.0.pidFile: must be an absolute path, got "run/x.pid"',
  );
  t.equal(
    error(
      withPatch(
        (d) =>
          (d['monitors'] = [
            { name: 'a', kind: 'carrier', interface: 'wan' },
            { name: 'a', kind: 'systemd', unit: 'fwd.service' },
          ]),
      ),
    ),
    'monitors.1.name: duplicate monitor name "a" (also monitors.0.name)',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'c', kind: 'command', command: 'true', intervalMs: 100, timeoutMs: 200 }]))),
    'monitors.0.timeoutMs: must not exceed intervalMs (100), got 200',
  );
  t.equal(
    error(withPatch((d) => (d['monitors'] = [{ name: 'c', kind: 'command', command: 'true', failAfter: 0 }]))),
    'monitors.0.failAfter: must be an integer from 1 to 100, got 0',
  );
});

t.test('list bounds', async (t) => {
  const many = Array.from({ length: 33 }, (_, i) => ({ address: `10.0.1.${i + 1}/24`, interface: 'lan' }));
  t.equal(error(withPatch((d) => (d['vips'] = many))), 'vips: must have at most 32 items, got 33');
});

t.test('the document itself must be a mapping', async (t) => {
  t.equal(error(null), 'must be a mapping of keys to values, got null');
  t.equal(error([1]), 'must be a mapping of keys to values, got [1]');
});
