/** The linux driver's pure parts: addresses, fence and policy text, listings, command discovery. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LinuxDriver } from '../../src/network/linux-driver.js';
import { ipv6ToHex, parseVip } from '../../src/network/linux/address.js';
import { arpingArgv, arpingFlavorOf } from '../../src/network/linux/announce.js';
import { expectedLeaseKeys, fenceScript, leaseCommand, parseFenceListing } from '../../src/network/linux/fence.js';
import { parseIpAddrJson } from '../../src/network/linux/ip-addr.js';
import { parsePolicy, policyInForce, policyTransaction } from '../../src/network/linux/policy.js';

t.test('addresses', async (t) => {
  t.equal(ipv6ToHex('2001:db8::1'), '20010db8000000000000000000000001');
  t.equal(ipv6ToHex('::'), '00000000000000000000000000000000');
  t.equal(ipv6ToHex('::ffff:10.0.0.1'), '00000000000000000000ffff0a000001');
  t.equal(ipv6ToHex('fe80::1:2'), 'fe800000000000000000000000010002');
  t.same(parseVip('10.0.0.1/24'), { ok: true, vip: { family: 4, address: '10.0.0.1', prefixLength: 24, key: '10.0.0.1' } });
  t.equal(parseVip('10.0.0.1/33').ok, false);
  t.equal(parseVip('nonsense').ok, false);
  t.equal(parseVip('2001:DB8::1/64').ok && parseVip('2001:DB8::1/64').ok, true);
  const kernel = parseIpAddrJson(JSON.stringify([{ ifname: 'eth1', addr_info: [{ local: '2001:db8::1', prefixlen: 64 }, { local: '10.0.0.1', prefixlen: 24 }] }]));
  t.same(kernel, [
    { device: 'eth1', key: '20010db8000000000000000000000001', prefixLength: 64 },
    { device: 'eth1', key: '10.0.0.1', prefixLength: 24 },
  ]);
  t.equal(parseIpAddrJson('not json'), null);
});

t.test('fence text: renew-only-if-held deletes first; a zero timeout is refused', async (t) => {
  const v4 = parseVip('10.0.0.1/24');
  const v6 = parseVip('2001:db8::1/64');
  if (!v4.ok || !v6.ok) throw new Error('parse');
  t.equal(
    leaseCommand([v4.vip], 500, true),
    'delete element inet hapair_fence lease4 { 10.0.0.1 }; add element inet hapair_fence lease4 { 10.0.0.1 timeout 500ms expires 500ms }; ' +
      'delete element arp hapair_fence_arp lease4 { 10.0.0.1 }; add element arp hapair_fence_arp lease4 { 10.0.0.1 timeout 500ms expires 500ms }',
  );
  t.notMatch(leaseCommand([v6.vip], 500, false), /delete/);
  t.match(leaseCommand([v6.vip], 500, false), /ndlease \{ 0x20010db8000000000000000000000001 timeout 500ms/);
  t.throws(() => leaseCommand([v4.vip], 0, true), /below/, 'timeout 0 would make a lease that never expires');
  const script = fenceScript([v4.vip, v6.vip], null);
  t.notMatch(script, /accept;?\n\s*(ct|accept)/, 'no accept rule in the fence');
  t.notMatch(script, /ct state/);
  t.same(expectedLeaseKeys([v4.vip, v6.vip]), [
    'inet:lease4:10.0.0.1',
    'arp:lease4:10.0.0.1',
    'inet:lease6:2001:db8::1',
    'inet:ndlease:0x20010db8000000000000000000000001',
  ]);
  const listing = parseFenceListing(
    JSON.stringify({ nftables: [{ metainfo: {} }, { set: { family: 'inet', name: 'ndlease', handle: 3, elem: [{ elem: { val: '0x1', timeout: 5, expires: 4 } }] } }] }),
    JSON.stringify({ nftables: [{ table: { family: 'arp', name: 'hapair_fence_arp', handle: 9 } }] }),
  );
  t.same([...(listing?.leases ?? [])], ['inet:ndlease:0x00000000000000000000000000000001']);
  t.notMatch(listing?.canonical ?? '', /handle|expires/, 'handles and lease timers are not part of the structure');
  t.equal(parseFenceListing('Error: No such file or directory', '{}'), null);
});

t.test('policy text', async (t) => {
  const p = parsePolicy('# comment with table foo\ntable inet pol {\n}\nadd table ip t2\ntable netdev x { comment "a # b"; }\n');
  t.same(p, { ok: true, tables: [{ family: 'inet', name: 'pol' }, { family: 'ip', name: 't2' }, { family: 'netdev', name: 'x' }] });
  t.match(parsePolicy('flush ruleset\n'), { ok: false, error: /line 1: "flush ruleset"/ });
  t.match(parsePolicy('include "/etc/x.nft"\n'), { ok: false, error: /include/ });
  t.match(parsePolicy('delete table inet hapair_fence\n'), { ok: false, error: /fence tables/ });
  t.match(parsePolicy('table weird x {}\n'), { ok: false, error: /unknown table family/ });
  const tx = policyTransaction('table inet pol {}\n', [{ family: 'inet', name: 'pol' }], [{ family: 'ip', name: 'old' }], 4);
  t.equal(
    tx,
    'table ip old {}\ndelete table ip old\ntable inet pol {}\ndelete table inet pol\ntable inet pol { comment "hapair-policy rev 4"; }\ntable inet pol {}\n\n',
  );
  t.same(policyInForce('table inet pol {\n\tcomment "hapair-policy rev 4"\n\tchain c {\n\t}\n}\ntable ip other {\n}\n'), {
    tables: [{ family: 'inet', name: 'pol' }],
    revision: 4,
  });
});

t.test('check() names the Debian package of each missing command', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'hapair-path-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const found = await LinuxDriver.check();
  t.ok(found.ok, 'found on this machine');
  t.same(await LinuxDriver.check({ path: empty, fallbackDirs: [] }), {
    ok: false,
    error:
      'the linux network driver needs: ip (install the Debian package iproute2), nft (install the Debian package nftables), ' +
      'arping (install the Debian package iputils-arping), timeout (install the Debian package coreutils)',
  });
});

t.test('arping: the flavour is read from -V, and each flavour gets its own options', async (t) => {
  t.equal(arpingFlavorOf('arping from iputils 20221126\nlibcap: yes'), 'iputils');
  t.equal(arpingFlavorOf("arping: option requires an argument -- 'V'\nARPing 2.23, by Thomas Habets <thomas@habets.se>"), 'habets');
  t.equal(arpingFlavorOf('busybox arping'), null);
  const parsed = parseVip('10.0.0.1/24');
  if (!parsed.ok) throw new Error('10.0.0.1/24 did not parse');
  const target = { vip: parsed.vip, device: 'eth1' };
  t.same(arpingArgv('/usr/bin/arping', 'iputils', target, 1, 0, 300), ['/usr/bin/arping', '-q', '-U', '-I', 'eth1', '-s', '10.0.0.1', '-c', '1', '10.0.0.1']);
  t.throws(() => arpingArgv('/usr/bin/arping', 'iputils', target, 3, 100, 500), RangeError, 'iputils cannot pace a burst below a second');
  t.same(arpingArgv('/usr/sbin/arping', 'habets', target, 3, 100, 500), [
    '/usr/sbin/arping', '-q', '-U', '-S', '10.0.0.1', '-i', 'eth1', '-c', '3', '-W', '0.100', '-w', '0.500', '10.0.0.1',
  ]);
});
