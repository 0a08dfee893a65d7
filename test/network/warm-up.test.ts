/**
 * The linux driver's warm-up runs its takeover code against a runner that
 * runs nothing. It must take the same path as a real takeover (every step
 * succeeds), or it warms the wrong code; and it must run nothing.
 */
import t from 'tap';
import { LinuxDriver } from '../../src/network/linux-driver.js';
import { InteractiveIp } from '../../src/network/linux/ip-session.js';
import { InteractiveNft } from '../../src/network/linux/nft-session.js';
import { StandInRunner } from '../../src/network/linux/stand-in-runner.js';

const PATHS = { ip: '/nonexistent/ip', nft: '/nonexistent/nft', arping: '/nonexistent/arping', arpingFlavor: 'iputils', timeout: '/nonexistent/timeout', na6: '/nonexistent/na6' } as const;

t.test('the warm-up takes over, announces, renews and releases without a problem, IPv4 and IPv6', async (t) => {
  const vips = [
    { address: '192.0.2.10/24', interface: 'lan' },
    { address: '2001:db8::10/64', interface: 'lan' },
  ];
  // The paths do not exist: had anything been run, the steps would fail.
  const runner = new StandInRunner();
  t.same(await LinuxDriver.warmUp({ lan: 'eth9' }, vips, PATHS, runner), []);
  // A real takeover's first packet comes from the ready shell: every round must fire one, not start arping itself.
  const shells = runner.seen.filter((line) => line.startsWith('/bin/sh -c')).length;
  const arpings = runner.seen.filter((line) => !line.startsWith('/bin/sh') && line.includes(PATHS.arping)).length;
  const na6 = runner.seen.filter((line) => line.includes(PATHS.na6)).length;
  t.ok(shells >= 20, `a ready shell for each of the 20 rounds (${shells})`);
  t.equal(arpings, 0, 'no arping started by the driver itself');
  t.equal(na6, 20, 'and the IPv6 VIP announced each round');
});

t.test('a VIP the driver cannot resolve shows up as a problem, not as an exception', async (t) => {
  const problems = await LinuxDriver.warmUp({ lan: 'eth9' }, [{ address: '192.0.2.10/24', interface: 'wan' }], PATHS);
  t.match(problems[0], /interface "wan" is not mapped/);
});

t.test('the stand-in answers the nft and ip sessions as the tools do when a command succeeds', async (t) => {
  const runner = new StandInRunner();
  const nft = new InteractiveNft(runner, { nftPath: PATHS.nft });
  const ip = new InteractiveIp(runner, PATHS.ip);
  t.same(await nft.exec('add element inet hapair_fence lease4 { 192.0.2.10 timeout 5000ms expires 5000ms }'), { ok: true, output: '' });
  t.same(JSON.parse((await nft.exec('list table inet hapair_fence')).output), { nftables: [] });
  t.same(await ip.exec('addr add 192.0.2.10/24 dev eth9'), { ok: true, output: '' });
  t.same(runner.seen, [`${PATHS.nft} -j -i`, `${PATHS.ip} -force -batch -`], 'two children, started once each');
  nft.close();
  ip.close();
});
