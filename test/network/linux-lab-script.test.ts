/** deploy/lab/lab.sh: builds the lab, cuts, partitions (both ways, one way, ICMP only), heals, and cleans up by name. */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SystemRunner } from '../../src/network/linux/command.js';
import { arpProbeArgv, labUnavailable } from './linux-lab.js';

const reason = await labUnavailable();
if (reason !== null) {
  t.plan(0, `skipped: ${reason}`);
  process.exit(0);
}

const script = fileURLToPath(new URL('../../deploy/lab/lab.sh', import.meta.url));
const id = `t${process.pid.toString(36)}`.slice(0, 8);
const host = new SystemRunner();
const lab = (...args: string[]) => host.run([script, ...args], { env: { HAPAIR_LAB_ID: id }, timeoutMs: 30_000 });
/** Whether `from` resolves `to` over ARP through the bridge. */
const reaches = async (from: string, to: string): Promise<boolean> => {
  await lab('exec', from, 'ip', 'neigh', 'flush', 'dev', 'eth0');
  const ip = (await lab('addr', to)).stdout.trim();
  return (await lab('exec', from, ...(await arpProbeArgv('eth0', ip)))).code === 0;
};

t.teardown(() => lab('down'));

t.test('up, faults, heal, down', async (t) => {
  const up = await lab('up');
  t.equal(up.code, 0, up.stderr);
  const names = (await host.run(['ip', 'netns', 'list'])).stdout;
  for (const h of ['br', 'fw1', 'fw2', 'wit', 'client', 'gw']) t.match(names, `hpl-${id}-${h}`);
  t.ok(await reaches('client', 'fw1'), 'client reaches fw1');
  t.ok(await reaches('fw1', 'fw2'), 'fw1 reaches fw2');

  t.equal((await lab('partition', 'fw1', 'fw2')).code, 0);
  t.notOk(await reaches('fw1', 'fw2'), 'partitioned fw1 -> fw2');
  t.notOk(await reaches('fw2', 'fw1'), 'partitioned fw2 -> fw1');
  t.ok(await reaches('fw1', 'wit'), 'fw1 still reaches the witness');
  await lab('heal');
  t.ok(await reaches('fw1', 'fw2'), 'healed');

  await lab('partition', 'fw1', 'fw2', 'oneway');
  t.notOk(await reaches('fw1', 'fw2'), 'one way: fw1 -> fw2 dropped');
  const fromFw2 = await lab('exec', 'fw2', 'nft', 'list', 'ruleset');
  t.equal(fromFw2.code, 0, 'exec runs inside the host namespace');
  await lab('heal');

  const pings = async (from: string, to: string): Promise<boolean> => {
    const ip = (await lab('addr', to)).stdout.trim();
    return (await lab('exec', from, 'ping', '-n', '-q', '-c', '1', '-W', '1', ip)).code === 0;
  };
  t.ok(await pings('fw1', 'gw'), 'fw1 pings the upstream router gw');
  t.equal((await lab('partition', 'fw1', 'fw2', 'icmp')).code, 0);
  t.notOk(await pings('fw1', 'fw2'), 'icmp only: fw1 -> fw2 ping dropped');
  t.notOk(await pings('fw2', 'fw1'), 'icmp only: fw2 -> fw1 ping dropped');
  t.ok(await reaches('fw1', 'fw2'), 'icmp only: everything else (ARP here) still passes');
  await lab('heal');
  t.ok(await pings('fw1', 'fw2'), 'healed: ping passes');
  t.equal((await lab('partition', 'fw1', 'fw2', 'udp')).code, 2, 'an unknown partition mode is an error');

  await lab('cut', 'fw1');
  t.equal((await lab('exec', 'fw1', 'cat', '/sys/class/net/eth0/carrier')).stdout.trim(), '0', 'cable pulled: no carrier');
  t.notOk(await reaches('client', 'fw1'));
  await lab('uncut', 'fw1');
  t.ok(await reaches('client', 'fw1'), 'cable back');

  t.equal((await lab('down')).code, 0);
  t.notMatch((await host.run(['ip', 'netns', 'list'])).stdout, `hpl-${id}-`, 'nothing left');
  t.equal((await lab('down')).code, 0, 'down twice is fine');
  t.equal((await lab('bogus')).code, 2, 'unknown command');
});
