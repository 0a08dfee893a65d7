/**
 * The linux driver against a real kernel, in two network namespaces: VIPs,
 * reconcile both ways, the kernel-held lease fence (answers while renewed,
 * silence within the lease once renewals stop, no resurrection of a lapsed
 * lease), tamper detection, and atomic policy replacement.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { checkPolicy, LinuxDriver, type LinuxDriverEvent } from '../../src/network/linux-driver.js';
import { parseVip } from '../../src/network/linux/address.js';
import type { AnnounceTiming } from '../../src/network/linux/announce.js';
import type { CommandResult, CommandRunner, LongRunningChild } from '../../src/network/linux/command.js';
import { fenceScript, leaseCommand } from '../../src/network/linux/fence.js';
import { alreadyPresent } from '../../src/network/linux/ip-addr.js';
import { batchLine, InteractiveIp } from '../../src/network/linux/ip-session.js';
import { InteractiveNft } from '../../src/network/linux/nft-session.js';
import { processAlive } from '../../src/util/process.js';
import { labUnavailable, NET, PairLab, unixMs, waitFor } from './linux-lab.js';

const reason = await labUnavailable();
if (reason !== null) {
  t.plan(0, `skipped: ${reason}`);
  process.exit(0);
}

const checked = await LinuxDriver.check();
if (!checked.ok) throw new Error(checked.error);
const paths = checked.paths;

const VIP4 = { address: `${NET.vip}/24`, interface: 'lan' };
const VIP6 = { address: `${NET.vip6}/64`, interface: 'lan' };
let labs = 0;

/** The driver's long-lived `nft -i` child. */
const isNftSession = (argv: readonly string[]): boolean => argv.includes('-i') && argv.some((a) => a.endsWith('nft'));
/** Started in place of a child that must fail at once. */
const FAILING_CHILD = ['sh', '-c', 'exit 3'];

type StartMerged = (argv: readonly string[], env: Readonly<Record<string, string>> | undefined, pair: PairLab) => LongRunningChild;

/**
 * The driver's long-lived nft session, to break on purpose: `breakNow` kills
 * the running one, and the sessions started after it fail at once (only the
 * next one when `once`); after `misreportNext` the next answer says "Error:"
 * although nft did what it was told.
 */
function breakableNftSession(once: boolean): { startMerged: StartMerged; breakNow: () => Promise<void>; misreportNext: () => void } {
  let broken = false;
  let misreport = false;
  let child: number | undefined;
  const startMerged: StartMerged = (argv, env, pair) => {
    const failing = isNftSession(argv) && broken;
    if (failing && once) broken = false;
    const started = pair.runA.startMerged(failing ? FAILING_CHILD : argv, env);
    if (!isNftSession(argv)) return started;
    child = started.pid;
    return {
      pid: started.pid,
      write: (text) => started.write(text),
      onOutput: (listener) =>
        started.onOutput((chunk) => {
          listener(misreport ? `Error: a failure reported on purpose\n${chunk}` : chunk);
          misreport = false;
        }),
      onExit: (listener) => started.onExit(listener),
      end: () => started.end(),
      kill: (signal) => started.kill(signal),
    };
  };
  const breakNow = async (): Promise<void> => {
    broken = true;
    if (child !== undefined) process.kill(child, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  };
  return { startMerged, breakNow, misreportNext: () => (misreport = true) };
}

/**
 * The driver's long-lived nft session, stuck on purpose: after `stick` the
 * next session child never answers and ignores SIGKILL until `exitStuck`
 * (an nft stuck in the kernel); the session children after it fail at once.
 */
function stickingNftSession(): { startMerged: StartMerged; stick: () => Promise<void>; exitStuck: () => void; stuckKilled: () => boolean } {
  let mode: 'real' | 'stick' | 'fail' = 'real';
  let current: number | undefined;
  let killed = false;
  const exits: ((code: number | null, signal: string | null) => void)[] = [];
  const stuck: LongRunningChild = {
    pid: undefined,
    write: () => true,
    onOutput: () => undefined,
    onExit: (listener) => exits.push(listener),
    end: () => undefined,
    kill: () => {
      killed = true;
    },
  };
  const startMerged: StartMerged = (argv, env, pair) => {
    if (!isNftSession(argv)) return pair.runA.startMerged(argv, env);
    if (mode === 'stick') {
      mode = 'fail';
      return stuck;
    }
    const started = pair.runA.startMerged(mode === 'fail' ? FAILING_CHILD : argv, env);
    current = started.pid;
    return started;
  };
  const stick = async (): Promise<void> => {
    mode = 'stick';
    if (current !== undefined) process.kill(current, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  };
  return { startMerged, stick, exitStuck: () => exits.forEach((listener) => listener(null, 'SIGKILL')), stuckKilled: () => killed };
}

/** One-shot nft runs (fence restores, listings) that fail once `breakAll` is called; every other command runs. */
function breakableOneShotNft(): { instead: NonNullable<SetupOptions['instead']>; breakAll: () => void } {
  let broken = false;
  return {
    instead: (argv) => (broken && argv[0]?.endsWith('nft') === true ? { code: 1, stdout: '', stderr: 'nft: broken on purpose', failure: null } : null),
    breakAll: () => {
      broken = true;
    },
  };
}

interface SetupOptions {
  events?: LinuxDriverEvent[];
  announce?: Partial<AnnounceTiming>;
  /** Starts the driver's long-lived children in place of lab A's runner (to watch, stop or break them). */
  startMerged?: StartMerged;
  /** Answers in place of running this one-shot command in lab A (null: run it). */
  instead?: (argv: readonly string[]) => CommandResult | null;
}

async function setup(t: Test, options: SetupOptions = {}) {
  const lab = new PairLab(`d${labs++}`);
  t.teardown(() => lab.down());
  await lab.up();
  const start = options.startMerged;
  const instead = options.instead;
  const runner: CommandRunner =
    start === undefined && instead === undefined
      ? lab.runA
      : {
          run: (argv, opts) => {
            const answer = instead?.(argv) ?? null;
            return answer === null ? lab.runA.run(argv, opts) : Promise.resolve(answer);
          },
          startMerged: (argv, env) => (start === undefined ? lab.runA.startMerged(argv, env) : start(argv, env, lab)),
        };
  const driver = new LinuxDriver({ lan: lab.devA }, 'fw1', {
    runner,
    paths,
    announce: options.announce ?? { burstCount: 1, tailCount: 0 },
    onEvent: (e) => options.events?.push(e),
  });
  t.teardown(() => driver.close());
  return { lab, driver };
}

/**
 * b's neighbour entry for the VIP points at a stranger; a's announcement of
 * epoch 1 must re-point it at a within `withinMs`.
 */
async function announceRepoints(lab: PairLab, driver: LinuxDriver, withinMs: number): Promise<boolean> {
  await lab.must(lab.runB, ['ip', 'neigh', 'replace', NET.vip, 'dev', lab.devB, 'lladdr', '02:00:00:00:00:99', 'nud', 'stale']);
  const announced = await driver.announce([VIP4], 1);
  if (!announced.ok) throw new Error(`announce refused: ${announced.error}`);
  const mac = JSON.parse((await lab.must(lab.runA, ['ip', '-j', 'link', 'show', lab.devA])).stdout)[0].address as string;
  return waitFor(async () => (await lab.runB.run(['ip', 'neigh', 'show', NET.vip, 'dev', lab.devB])).stdout.includes(mac), withinMs);
}

t.test('VIPs are added and removed idempotently', async (t) => {
  const { lab, driver } = await setup(t);
  t.same((await driver.cleanupAtStart([VIP4])).errors, []);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  t.ok((await lab.addressesA()).includes(NET.vip), 'VIP present');
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true }, 'renewal is fine');
  t.equal((await lab.addressesA()).filter((a) => a === NET.vip).length, 1, 'once');
  t.same(await driver.setVipState({ hold: false }), { ok: true });
  t.same(await driver.setVipState({ hold: false }), { ok: true }, 'release twice is fine');
  t.notOk((await lab.addressesA()).includes(NET.vip), 'VIP gone once the next call answered');
  const bad = await driver.setVipState({ hold: true, epoch: 2, vips: [{ address: '10.0.0.1/24', interface: 'wan' }], fenceMs: 5000 });
  t.equal(bad.ok, false);
  t.match(bad.ok ? '' : bad.error, /interface "wan" is not mapped/);
});

t.test('cleanupAtStart says which of its errors the setup check names too (an unmapped interface, a missing device)', async (t) => {
  const { lab } = await setup(t);
  const driver = new LinuxDriver({ lan: 'hapair-gone0' }, 'fw1', { runner: lab.runA, paths, announce: { burstCount: 1, tailCount: 0 } });
  t.teardown(() => driver.close());
  const unmapped = await driver.cleanupAtStart([{ address: '10.0.0.1/24', interface: 'wan' }]);
  t.match(unmapped.errors, [/interface "wan" is not mapped to a device/]);
  t.same(unmapped.setup, unmapped.errors);
  const missing = await driver.cleanupAtStart([VIP4]);
  t.match(missing.errors, [/^VIP device hapair-gone0: .*does not exist/]);
  t.same(missing.setup, missing.errors, 'a missing device is a setup problem, nothing else failed');
});

t.test('reconcile repairs both ways; cleanupAtStart removes a crash leftover', async (t) => {
  const { lab, driver } = await setup(t);
  await lab.must(lab.runA, ['ip', 'addr', 'add', `${NET.vip}/24`, 'dev', lab.devA]);
  const start = await driver.cleanupAtStart([VIP4]);
  t.match(start.repaired.join('\n'), /was on hpa0 without the lease: removed/);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'leftover removed before joining');

  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 10_000 }), { ok: true });
  await lab.must(lab.runA, ['ip', 'addr', 'del', `${NET.vip}/24`, 'dev', lab.devA]);
  const r1 = await driver.reconcile();
  t.match(r1.repaired.join('\n'), /was missing on hpa0: added back/);
  t.ok((await lab.addressesA()).includes(NET.vip), 'VIP back on the active');
  t.same((await driver.reconcile()).repaired, [], 'nothing left to repair');

  await driver.setVipState({ hold: false });
  t.same((await driver.reconcile()).repaired, [], 'the release removed the VIP itself');
  await lab.must(lab.runA, ['ip', 'addr', 'add', `${NET.vip}/24`, 'dev', lab.devA]);
  const r2 = await driver.reconcile();
  t.match(r2.repaired.join('\n'), /without the lease: removed/);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'VIP gone from the non-holder');
});

t.test('a release answers once the node is silent; the addresses go before the next call', async (t) => {
  const ipChildren: number[] = [];
  const events: LinuxDriverEvent[] = [];
  const { lab, driver } = await setup(t, {
    events,
    startMerged: (argv, env, pair) => {
      const child = pair.runA.startMerged(argv, env);
      if (argv.includes('-batch') && child.pid !== undefined) ipChildren.push(child.pid);
      return child;
    },
  });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  t.ok(await lab.arpAnswers(NET.vip), 'answering while held');
  const ipPid = ipChildren.at(-1);
  if (ipPid === undefined) throw new Error('the driver started no ip -batch child');

  // With the `ip` child stopped the address cannot go: the release answers on the fence alone.
  process.kill(ipPid, 'SIGSTOP');
  const released = await driver.setVipState({ hold: false }).finally(() => process.kill(ipPid, 'SIGCONT'));
  t.same(released, { ok: true });
  t.notOk(await lab.arpAnswers(NET.vip), 'silent as soon as the release answered');
  t.same((await driver.reconcile()).repaired, [], 'the release removed the address itself, before the next call');
  t.notOk((await lab.addressesA()).includes(NET.vip), 'address gone');
  t.same(events, [], 'nothing went wrong');

  // Addresses that cannot be removed (the device is gone): the release still answers, and the failure is reported.
  t.same(await driver.setVipState({ hold: true, epoch: 2, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  await lab.must(lab.runA, ['ip', 'link', 'del', lab.devA]);
  t.same(await driver.setVipState({ hold: false }), { ok: true }, 'silent: the release answers');
  await driver.reconcile();
  t.match(events, [{ type: 'release-incomplete', detail: /ip addr del .*hpa0: .*(not found|Cannot find device)/i }]);
});

t.test('a release whose fence step fails restores the fence and still removes the addresses', async (t) => {
  const events: LinuxDriverEvent[] = [];
  const nft = breakableNftSession(true);
  const { lab, driver } = await setup(t, { events, startMerged: nft.startMerged });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  // The next nft session fails (the release's step); the fence restore after it works.
  await nft.breakNow();
  t.same(await driver.setVipState({ hold: false }), { ok: true }, 'silent: the fence was put back without a lease');
  await driver.announce([VIP4], 1); // a later call: the release's own work is done by then
  t.notOk(await lab.arpAnswers(NET.vip), 'silent');
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the address was removed by the release itself');
  t.match(events, [{ type: 'fence-restored', detail: /fence restored on release/ }]);
});

t.test("a release while nft's session stays broken succeeds once its lease has run out and no VIP address is left, and says so", async (t) => {
  const events: LinuxDriverEvent[] = [];
  const nft = breakableNftSession(false);
  const { lab, driver } = await setup(t, { events, startMerged: nft.startMerged });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 }), { ok: true });
  t.ok(await lab.arpAnswers(NET.vip), 'answers while held');
  // From now on every nft session fails: the fence can be neither released nor listed.
  await nft.breakNow();
  t.same(await driver.setVipState({ hold: false }), { ok: true }, 'released: the address is gone, so the node is silent');
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the address was removed');
  t.notOk(await lab.arpAnswers(NET.vip), 'silent');
  t.match(events, [{ type: 'release-without-fence', detail: /^fence release failed: .*silent all the same: its last lease has run out and no VIP address is left$/ }]);
  t.same(await driver.setVipState({ hold: false }), { ok: true }, 'a second release too (nothing held, nothing left)');
});

t.test('a release while nft fails altogether (the lease is still live in the kernel) ends once that lease has run out', async (t) => {
  const events: LinuxDriverEvent[] = [];
  const nft = breakableNftSession(false);
  const oneShot = breakableOneShotNft();
  const { lab, driver } = await setup(t, {
    events,
    startMerged: nft.startMerged,
    instead: oneShot.instead,
  });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 }), { ok: true });
  const expiresAt = unixMs(driver.leaseExpiresAtMs() ?? 0);
  oneShot.breakAll();
  await nft.breakNow();
  const released = await driver.setVipState({ hold: false });
  const answeredAt = Date.now();
  t.same(released, { ok: true });
  t.ok(answeredAt >= expiresAt, `answered once the live lease had run out (${answeredAt - expiresAt} ms after its end)`);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the address was removed');
  t.notOk(await lab.arpAnswers(NET.vip), 'silent');
  t.match(events, [{ type: 'release-without-fence', detail: /its last lease has run out and no VIP address is left$/ }]);
});

t.test('a renewal nft wrote but reported as failed still counts: a release without the fence waits for that lease too', async (t) => {
  const nft = breakableNftSession(false);
  const oneShot = breakableOneShotNft();
  const { lab, driver } = await setup(t, {
    startMerged: nft.startMerged,
    instead: oneShot.instead,
  });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 }), { ok: true });
  const firstEnd = unixMs(driver.leaseExpiresAtMs() ?? 0);
  await new Promise((r) => setTimeout(r, 600));
  nft.misreportNext();
  const renewedAt = Date.now();
  const renewal = await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 });
  t.match(renewal, { ok: false, error: /fence lease not written: Error: a failure reported on purpose/ });
  // The kernel took the renewal all the same: past the first lease's end the VIP still answers.
  await new Promise((r) => setTimeout(r, Math.max(0, firstEnd + 100 - Date.now())));
  t.ok(await lab.arpAnswers(NET.vip), 'still answering after the first lease ran out: the misreported renewal was written');
  oneShot.breakAll();
  await nft.breakNow();
  const released = await driver.setVipState({ hold: false });
  const answeredAt = Date.now();
  t.same(released, { ok: true });
  // The kernel counts the renewed lease from a little after renewedAt, less its rounding to jiffies.
  t.ok(answeredAt >= renewedAt + 1500 - 10, `answered once the renewed lease had run out (${answeredAt - renewedAt} ms after the renewal was sent)`);
  t.notOk(await lab.arpAnswers(NET.vip), 'silent');
});

/** Holds epoch 1 with a 1.5 s fence, then the renewal's nft hangs: killed after 2 s, given up on a second later. */
async function renewalGivenUp(t: Test, nft: ReturnType<typeof stickingNftSession>, driver: LinuxDriver): Promise<void> {
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 }), { ok: true });
  await nft.stick();
  const renewal = await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 1500 });
  t.match(renewal, { ok: false, error: /did not answer within 2000 ms; it had not exited 1000 ms after being killed/ });
  t.ok(nft.stuckKilled(), 'the stuck nft was killed');
}

t.test('a lease given to an nft that was killed and exited late is counted from its exit by a release without the fence', async (t) => {
  const nft = stickingNftSession();
  const oneShot = breakableOneShotNft();
  const { lab, driver } = await setup(t, {
    startMerged: nft.startMerged,
    instead: oneShot.instead,
  });
  await renewalGivenUp(t, nft, driver);
  await new Promise((r) => setTimeout(r, 1000));
  nft.exitStuck();
  await new Promise((r) => setImmediate(r));
  // nft now fails altogether: the release ends once a lease written up to the stuck nft's exit would have run out.
  oneShot.breakAll();
  const releasedFrom = Date.now();
  const released = await driver.setVipState({ hold: false });
  const tookMs = Date.now() - releasedFrom;
  t.same(released, { ok: true });
  t.ok(tookMs >= 1490, `the release waited a whole lease after the stuck nft had exited (${tookMs} ms)`);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the address was removed');
  t.notOk(await lab.arpAnswers(NET.vip), 'silent');
});

t.test('a release without the fence while that nft still runs waits a second for it, then a whole lease, and says it may still write one', async (t) => {
  const nft = stickingNftSession();
  t.teardown(() => nft.exitStuck());
  const events: LinuxDriverEvent[] = [];
  const oneShot = breakableOneShotNft();
  const { lab, driver } = await setup(t, {
    events,
    startMerged: nft.startMerged,
    instead: oneShot.instead,
  });
  await renewalGivenUp(t, nft, driver);
  oneShot.breakAll();
  const releasedFrom = Date.now();
  const released = await driver.setVipState({ hold: false });
  const tookMs = Date.now() - releasedFrom;
  t.same(released, { ok: true }, 'released: the role can move on');
  t.ok(tookMs >= 1000 + 1490, `after a second's wait for the killed nft and a whole lease from then (${tookMs} ms)`);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the address was removed');
  t.match(events, [{ type: 'release-without-fence', detail: /no VIP address is left; but an nft killed while writing a lease had not exited \(1 such process\)/ }]);
});

t.test('fence: answers while renewed, silent within the lease once renewals stop', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP4]);
  await lab.startEcho(7777);
  // Not holding: the VIP added by hand does not answer (the fence is there on every node).
  await lab.must(lab.runA, ['ip', 'addr', 'add', `${NET.vip}/24`, 'dev', lab.devA]);
  t.notOk(await lab.arpAnswers(NET.vip), 'no ARP answer without a lease');
  await lab.must(lab.runA, ['ip', 'addr', 'del', `${NET.vip}/24`, 'dev', lab.devA]);

  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 30_000 }), { ok: true });
  t.ok(await lab.arpAnswers(NET.vip), 'ARP answered while the lease is held');
  // Probe every 5 ms; once the prober runs, renew every 100 ms for 1 s with a
  // 1 s lease, then stop (a frozen agent) and keep probing past the lease end.
  const fenceMs = 1000;
  const probing = lab.startProbe(NET.vip, 7777, 5, 2600);
  await probing.started;
  const renewals: number[] = [];
  const renewUntil = Date.now() + 1000;
  while (Date.now() < renewUntil) {
    const t0 = performance.now();
    const r = await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs });
    renewals.push(performance.now() - t0);
    t.equal(r.ok, true, 'renewal ok');
    await new Promise((r) => setTimeout(r, 100));
  }
  const expiresAt = unixMs(driver.leaseExpiresAtMs() ?? 0);
  const rows = await probing.done;
  const answered = rows.filter((r) => r.answered);
  const lastAnswer = Math.max(...answered.map((r) => r.sentAt));
  const lostWhileHeld = rows.filter((r) => !r.answered && r.sentAt < expiresAt - 100 && r.sentAt > rows[0]!.sentAt + 50);
  const lateAnswers = answered.filter((r) => r.sentAt > expiresAt + 100);
  t.ok(answered.length > 100, `answers while held (${answered.length})`);
  t.same(lostWhileHeld, [], 'nothing lost while the lease was renewed');
  t.same(lateAnswers, [], 'no answer later than 100 ms after the lease end');
  t.ok(lastAnswer > expiresAt - 100, `answered until close to the lease end (last ${(lastAnswer - expiresAt).toFixed(1)} ms from it)`);
  t.comment(`renewal cost (driver call, nft -i + verify): median ${median(renewals).toFixed(2)} ms, max ${Math.max(...renewals).toFixed(2)} ms`);
  t.comment(`last answer relative to the lease end: ${(lastAnswer - expiresAt).toFixed(1)} ms`);
  t.notOk(await lab.arpAnswers(NET.vip), 'no ARP answer after expiry');
});

t.test('a takeover whose lease cannot be written leaves no address behind (the address is added alongside the lease write)', async (t) => {
  // Every command of the long-lived nft child fails; one-shot nft (the fence install) works.
  const { lab, driver } = await setup(t, {
    startMerged: (argv, env, pair) => pair.runA.startMerged(isNftSession(argv) ? FAILING_CHILD : argv, env),
  });
  await driver.cleanupAtStart([VIP4]);
  const r = await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 });
  t.equal(r.ok, false);
  t.match(r.ok ? '' : r.error, /fence lease not written: nft -i exited/);
  t.notOk((await lab.addressesA()).includes(NET.vip), 'the VIP added alongside is gone again');
  t.equal(driver.holding(), null);
});

t.test('renew only if still held: a lapsed lease is not resurrected', async (t) => {
  const events: LinuxDriverEvent[] = [];
  const { lab, driver } = await setup(t, { events });
  await driver.cleanupAtStart([VIP4]);
  t.same(await driver.setVipState({ hold: true, epoch: 3, vips: [VIP4], fenceMs: 200 }), { ok: true });
  t.ok(await waitFor(async () => !(await lab.arpAnswers(NET.vip)), 2000), 'silent after expiry');
  const again = await driver.setVipState({ hold: true, epoch: 3, vips: [VIP4], fenceMs: 5000 });
  t.equal(again.ok, false, 'renewal of the lapsed epoch refused');
  t.match(again.ok ? '' : again.error, /lapsed/);
  t.notOk(await lab.arpAnswers(NET.vip), 'still silent');
  t.notOk((await lab.addressesA()).includes(NET.vip), 'VIP removed after the lapse');
  t.ok(events.some((e) => e.type === 'lease-lapsed' && e.epoch === 3));
  const stillRefused = await driver.setVipState({ hold: true, epoch: 3, vips: [VIP4], fenceMs: 5000 });
  t.equal(stillRefused.ok, false, 'the same epoch stays refused');
  t.same(await driver.setVipState({ hold: true, epoch: 4, vips: [VIP4], fenceMs: 5000 }), { ok: true }, 'a new grant acquires');
  t.ok(await lab.arpAnswers(NET.vip), 'answering under the new epoch');

  // The kernel half of the trick, without the driver's clock: delete+add fails on a lapsed element.
  const vip = parseVip(`${NET.vip}/24`);
  if (!vip.ok) throw new Error(vip.error);
  await driver.setVipState({ hold: false });
  const r = await lab.runA.run(['nft', '-f', '-'], { input: `${leaseCommand([vip.vip], 5000, true)}\n` });
  t.not(r.code, 0, 'delete+add refused when the element is gone');
  t.match(r.stderr, /No such file or directory/);
  const list = await lab.runA.run(['nft', 'list', 'set', 'inet', 'hapair_fence', 'lease4']);
  t.notMatch(list.stdout, NET.vip, 'and nothing was re-created');
});

t.test('a flushed or altered fence is detected and restored', async (t) => {
  const events: LinuxDriverEvent[] = [];
  const { lab, driver } = await setup(t, { events });
  await driver.cleanupAtStart([VIP4]);
  // Not holding: `nft flush ruleset` would let a hand-added VIP answer; reconcile restores.
  await lab.must(lab.runA, ['nft', 'flush', 'ruleset']);
  const r0 = await driver.reconcile();
  t.match(r0.repaired.join('\n'), /fence restored: the fence tables were missing/);

  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  await lab.must(lab.runA, ['nft', 'flush', 'ruleset']);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true }, 'renewal repairs');
  t.ok(events.some((e) => e.type === 'fence-restored'), 'reported as an event');
  const r1 = await driver.reconcile();
  t.match(r1.repaired.join('\n'), /fence restored while holding epoch 1: the fence tables were missing/);
  const list = await lab.runA.run(['nft', 'list', 'set', 'arp', 'hapair_fence_arp', 'lease4']);
  t.match(list.stdout, NET.vip, 'lease carried over into the restored table');
  t.ok(await lab.arpAnswers(NET.vip), 'still answering');

  // Altered: a rule removed by hand (the fence would no longer drop IPv4 to the VIP).
  await lab.must(lab.runA, ['nft', 'flush', 'chain', 'inet', 'hapair_fence', 'pre']);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 }), { ok: true });
  t.match((await driver.reconcile()).repaired.join('\n'), /had been changed/);
  const pre = await lab.runA.run(['nft', 'list', 'chain', 'inet', 'hapair_fence', 'pre']);
  t.match(pre.stdout, /ip daddr @vips4 ip daddr != @lease4 drop/, 'rule back');

  // Lease elements deleted by hand long before they were due: tampering, restored.
  await lab.must(lab.runA, ['nft', 'flush', 'set', 'inet', 'hapair_fence', 'lease4']);
  t.match((await driver.reconcile()).repaired.join('\n'), /lease elements were missing/);
  t.ok(await lab.arpAnswers(NET.vip));
});

/** A ruleset of about `chars` characters (one forward chain of counted rules), as a large site's policy would be. */
function largeRuleset(chars: number): string {
  const lines = ['table inet bigpol {', '  chain forward_in {', '    type filter hook forward priority 0; policy accept;'];
  let size = 0;
  for (let i = 0; size < chars; i++) {
    const line = `    ip saddr 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} tcp dport ${1000 + (i % 50_000)} counter accept comment "rule ${i}"`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n  }\n}\n`;
}

t.test('a large policy loading on the active does not hold up its lease renewals', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP4]);
  const fenceMs = 300;
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs }), { ok: true });
  const started = performance.now();
  const loading = driver.applyPolicy(largeRuleset(900_000), 1).then((r) => ({ ...r, tookMs: performance.now() - started }));
  let done = false;
  void loading.then(() => (done = true));
  // Renewals as the agent sends them (twice per heartbeat of 50 ms) for as long as the load runs.
  const renewals: { ok: boolean; atMs: number }[] = [];
  while (!done) {
    const r = await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs });
    renewals.push({ ok: r.ok, atMs: performance.now() - started });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const loaded = await loading;
  t.equal(loaded.ok, true, `the policy loaded (${Math.round(loaded.tookMs)} ms)`);
  const failed = renewals.filter((r) => !r.ok);
  t.same(failed, [], `every one of ${renewals.length} renewals during the load held the lease`);
  // On one chain the first renewal would wait for the whole load, whatever the machine's speed.
  const duringLoad = renewals.filter((r) => r.atMs < loaded.tookMs).length;
  t.ok(duringLoad >= 3, `${duringLoad} renewals answered while the policy was still loading`);
  const gaps = renewals.map((r, i) => r.atMs - (renewals[i - 1]?.atMs ?? 0));
  t.ok(Math.max(...gaps) < fenceMs, `renewals at most ${Math.round(Math.max(...gaps))} ms apart, under the ${fenceMs} ms fence`);
  t.ok(await lab.arpAnswers(NET.vip), 'still answering');
});

t.test('a policy of the largest size is replaced whole after a restart: no table of it is left behind', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP4]);
  // Short counted rules: nft lists each with its counter's values, half as long again as written.
  const counted = Array.from({ length: 28_000 }, (_, i) => `    tcp dport ${(i % 60_000) + 1} counter`).join('\n');
  const rev1 = `table inet bigpol {\n  chain c {\n    type filter hook input priority 0; policy accept;\n${counted}\n  }\n}\ntable ip smallpol {\n  chain c {\n    type filter hook forward priority 0;\n  }\n}\n`;
  t.ok(rev1.length <= 1_000_000, `within the policy's size limit (${rev1.length} characters)`);
  t.same(await driver.applyPolicy(rev1, 1), { ok: true });
  const listed = (await lab.runA.run(['nft', '-t', 'list', 'ruleset'], { maxOutputChars: 10_000_000 })).stdout.length;
  t.ok(listed > 1_000_000, `its listing is larger than the default output limit (${listed} characters)`);
  // A restarted agent knows the policy in force only from the kernel's listing.
  const restarted = new LinuxDriver({ lan: lab.devA }, 'fw1', { runner: lab.runA, paths, announce: { burstCount: 1, tailCount: 0 } });
  t.teardown(() => restarted.close());
  t.equal(await restarted.policyRevision(), 1);
  t.same(await restarted.applyPolicy('table inet otherpol {\n  chain c {\n    type filter hook input priority 0;\n  }\n}\n', 2), { ok: true });
  t.not((await lab.runA.run(['nft', 'list', 'table', 'inet', 'bigpol'])).code, 0, 'the large table of revision 1 is gone');
  t.not((await lab.runA.run(['nft', 'list', 'table', 'ip', 'smallpol'])).code, 0, 'and so is the one listed after it');
  t.equal(await restarted.policyRevision(), 2);
});

t.test('policy: checked, applied atomically, refused rulesets leave the old one; fence survives', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP4]);
  const fenceBefore = (await lab.must(lab.runA, ['nft', 'list', 'table', 'inet', 'hapair_fence'])).stdout;
  const rev1 = `table inet pol {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport 22 accept\n  }\n}\ntable ip extra {\n  chain c { type filter hook forward priority 0; }\n}\n`;
  t.same(await driver.applyPolicy(rev1, 1), { ok: true });
  const list1 = (await lab.must(lab.runA, ['nft', 'list', 'table', 'inet', 'pol'])).stdout;
  t.match(list1, /tcp dport 22 accept/);
  t.match(list1, /comment "hapair-policy rev 1"/);
  t.equal(await driver.policyRevision(), 1);

  const syntax = await driver.applyPolicy('table inet pol {\n  chain input {\n    tcp dport 22 acept\n  }\n}\n', 2);
  t.equal(syntax.ok, false, 'syntax error refused');
  t.match(syntax.ok ? '' : syntax.error, /previous policy stays/);
  const semantic = await driver.applyPolicy('table inet pol {\n  chain input {\n    ip saddr @nosuchset accept\n  }\n}\n', 2);
  t.equal(semantic.ok, false, 'kernel-refused ruleset refused');
  t.equal((await lab.must(lab.runA, ['nft', 'list', 'table', 'inet', 'pol'])).stdout, list1, 'old policy intact');
  const flush = await driver.applyPolicy('flush ruleset\ntable inet pol {}\n', 2);
  t.match(flush.ok ? '' : flush.error, /flush ruleset/);
  const fence = await driver.applyPolicy('table inet hapair_fence { }\n', 2);
  t.match(fence.ok ? '' : fence.error, /fence tables/);
  t.equal((await driver.checkPolicy('table inet x { chain c { tcp dport 1 acept; }; }')).ok, false, 'checkPolicy refuses a bad ruleset');

  const rev3 = `table inet pol {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport 443 accept\n  }\n}\n`;
  t.same(await driver.applyPolicy(rev3, 3), { ok: true });
  const list3 = (await lab.must(lab.runA, ['nft', 'list', 'table', 'inet', 'pol'])).stdout;
  t.match(list3, /tcp dport 443 accept/);
  t.notMatch(list3, /dport 22/, 'replaced, not merged');
  const extra = await lab.runA.run(['nft', 'list', 'table', 'ip', 'extra']);
  t.not(extra.code, 0, 'a table the new policy no longer declares is removed');
  t.equal((await lab.must(lab.runA, ['nft', 'list', 'table', 'inet', 'hapair_fence'])).stdout, fenceBefore, 'fence untouched');
  t.same((await driver.reconcile()).repaired, [], 'fence still intact as installed');
  t.same(await driver.checkPolicy(rev1), { ok: true }, 'checkPolicy accepts a good ruleset');
  t.equal(await driver.policyRevision(), 3, 'checkPolicy changed nothing');
  t.same(await checkPolicy(rev1, { runner: lab.runA }), { ok: true }, 'standalone check');
  t.match(await checkPolicy('table inet x { chain c { tcp dport 1 acept; }; }', { runner: lab.runA }), { ok: false, error: /syntax error/ });
  t.match(await checkPolicy('flush ruleset', { nft: false }), { ok: false, error: /flush ruleset/ });
});

t.test('IPv6 VIP: nodad address, NDP and packets fenced by the lease', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP6]);
  await lab.startEcho(7778);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP6], fenceMs: 10_000 }), { ok: true });
  t.ok((await lab.addressesA()).includes(NET.vip6), 'IPv6 VIP present');
  await lab.runB.run(['ip', '-6', 'neigh', 'flush', 'dev', lab.devB]);
  // Long enough to cover a neighbour-solicitation retransmit (1 s) should the first one be lost.
  const held = await lab.probe(NET.vip6, 7778, 20, 1500);
  t.ok(held.filter((r) => r.answered).length > 3, `answers over IPv6 while held, neighbour discovery included (${held.filter((r) => r.answered).length}/${held.length})`);
  t.same(await driver.setVipState({ hold: true, epoch: 1, vips: [VIP6], fenceMs: 200 }), { ok: true }, 'renewed for a short lease');
  t.ok(await waitFor(async () => driver.leaseExpiresAtMs() !== null && performance.now() > driver.leaseExpiresAtMs()! + 20, 2000));
  await lab.runB.run(['ip', '-6', 'neigh', 'flush', 'dev', lab.devB]);
  const after = await lab.probe(NET.vip6, 7778, 20, 300);
  t.same(after.filter((r) => r.answered), [], 'silent after expiry');
  const neigh = await lab.runB.run(['ip', '-6', 'neigh', 'show', NET.vip6, 'dev', lab.devB]);
  t.notMatch(neigh.stdout, /REACHABLE|STALE|DELAY/, `no neighbour entry resolved (${neigh.stdout.trim()})`);
});

t.test('announce: gratuitous ARP re-points a neighbour; refused without the lease', async (t) => {
  const { lab, driver } = await setup(t);
  await driver.cleanupAtStart([VIP4]);
  t.equal((await driver.announce([VIP4], 1)).ok, false, 'no announce without holding');
  await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 });
  t.ok(await announceRepoints(lab, driver, 3000), 'b now points the VIP at a');
});

/** b counts the gratuitous ARPs for the VIP it receives (an nft counter); returns a reader of the count. */
async function garpCounter(lab: PairLab): Promise<() => Promise<number>> {
  await lab.must(lab.runB, ['nft', '-f', '-'], {
    input: `table arp hpgarp {\nchain in {\ntype filter hook input priority 0\narp saddr ip ${NET.vip} arp daddr ip ${NET.vip} counter\n}\n}\n`,
  });
  return async () => {
    const out = (await lab.must(lab.runB, ['nft', '-j', 'list', 'table', 'arp', 'hpgarp'])).stdout;
    const counter = (JSON.parse(out) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables
      .flatMap((x) => x.rule?.expr ?? [])
      .find((e) => e.counter !== undefined);
    return counter?.counter?.packets ?? -1;
  };
}

t.test('announce: the whole burst and tail leave, and nothing after a release', async (t) => {
  const { lab, driver } = await setup(t, { announce: { burstCount: 3, burstIntervalMs: 50, tailCount: 2, tailIntervalMs: 200 } });
  const received = await garpCounter(lab);
  await driver.cleanupAtStart([VIP4]);
  await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 });
  t.same(await driver.announce([VIP4], 1), { ok: true });
  t.ok(await waitFor(async () => (await received()) === 5, 3000), 'three in the burst and two in the tail');
  t.same(await driver.announce([VIP4], 1), { ok: true });
  await driver.setVipState({ hold: false });
  const atRelease = await received();
  await new Promise((r) => setTimeout(r, 700));
  t.equal(await received(), atRelease, 'nothing more of the second announcement after the release');
});

t.test('announce: the first packet comes from a shell started in advance, which sends nothing until told and ends with the driver', async (t) => {
  const lab = new PairLab(`d${labs++}`);
  t.teardown(() => lab.down());
  await lab.up();
  // Which arping command lines were started as a process, and which as a ready shell.
  const spawned: string[] = [];
  const armed: string[] = [];
  const recording: CommandRunner = {
    run: (argv, options) => {
      if (argv.includes(paths.arping)) spawned.push(argv.join(' '));
      return lab.runA.run(argv, options);
    },
    startMerged: (argv, env) => {
      if (argv.includes(paths.arping)) armed.push(argv.join(' '));
      return lab.runA.startMerged(argv, env);
    },
  };
  const driver = new LinuxDriver({ lan: lab.devA }, 'fw1', { runner: recording, paths, announce: { burstCount: 1, tailCount: 0 } });
  t.teardown(() => driver.close());
  if (paths.arpingFlavor !== 'iputils') {
    t.comment(`skipped: ${paths.arping} is not iputils' arping, which is the only one armed`);
    return;
  }
  const received = await garpCounter(lab);
  await driver.cleanupAtStart([VIP4]);
  t.equal(armed.length, 1, 'one shell made ready for the one IPv4 VIP at start');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await received(), 0, 'a ready shell sends nothing by itself');

  await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 5000 });
  t.same(await driver.announce([VIP4], 1), { ok: true });
  t.ok(await waitFor(async () => (await received()) === 1, 2000), 'the announcement left');
  t.same(spawned, [], 'from the ready shell: no process started for it');
  t.ok(await waitFor(async () => armed.length === 2, 2000), 'a new shell is made ready after the use');

  const pids = driver.readyAnnouncerPids();
  t.equal(pids.length, 1);
  await driver.close();
  t.ok(await waitFor(async () => pids.every((pid) => !processAlive(pid)), 2000), 'the ready shell ended with the driver');
  t.equal(await received(), 1, 'and sent nothing');
});

t.test('announce: a lease as short as the fast profile\'s still announces (the packet is bounded by timeout, not skipped)', async (t) => {
  const events: LinuxDriverEvent[] = [];
  const { lab, driver } = await setup(t, { events });
  await driver.cleanupAtStart([VIP4]);
  await driver.setVipState({ hold: true, epoch: 1, vips: [VIP4], fenceMs: 45 });
  t.ok(await announceRepoints(lab, driver, 1000), 'b points the VIP at a');
  await new Promise((r) => setTimeout(r, 300));
  t.same(events.filter((e) => e.type === 'announce-error'), [], 'arping ended at the lease end by timeout is no error');
});

t.test('checkDevices: the setup check names a device the host does not have', async (t) => {
  const { lab, driver } = await setup(t);
  t.same(await driver.checkDevices([lab.devA, 'hpnosuch0']), { [lab.devA]: null, hpnosuch0: 'device "hpnosuch0" does not exist on this host' });
});

t.test('checkDevices: when the devices cannot be listed it says so instead of calling them missing', async (t) => {
  const { lab } = await setup(t);
  // `ip -j link show` fails (a timeout under load, say); every other command runs as usual.
  const failing: CommandRunner = {
    run: (argv, options) =>
      argv.join(' ').endsWith('-j link show')
        ? Promise.resolve({ code: 1, stdout: '', stderr: 'Cannot open netlink socket', failure: null })
        : lab.runA.run(argv, options),
    startMerged: (argv, env) => lab.runA.startMerged(argv, env),
  };
  const driver = new LinuxDriver({ lan: lab.devA }, 'fw1', { runner: failing });
  t.teardown(() => driver.close());
  await t.rejects(driver.checkDevices([lab.devA]), /cannot list the network devices: .*Cannot open netlink socket/);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

t.test('ip -batch session: changes, their errors, and a restart after the child dies', async (t) => {
  const { lab } = await setup(t);
  const ip = new InteractiveIp(lab.runA);
  t.teardown(() => ip.close());
  ip.warm();
  t.equal(ip.starts, 1, 'warm() starts the child before any command');
  const add = `addr add ${NET.vip}/24 dev ${lab.devA}`;
  t.same(await ip.exec(add), { ok: true, output: '' });
  t.ok((await lab.addressesA()).includes(NET.vip), 'the address is on the device');
  const again = await ip.exec(add);
  t.equal(again.ok, false, 'adding it twice is an error of that command only');
  t.ok(alreadyPresent(again.output), `and reads as "already there" (${again.output})`);
  t.same(await ip.exec(`addr add ${NET.vip}/24 dev nosuchdev0`), { ok: false, output: 'Cannot find device "nosuchdev0"' }, 'the error is what ip said');
  t.same(await ip.exec(`addr del ${NET.vip}/24 dev ${lab.devA}`), { ok: true, output: '' }, 'the session goes on after an error');
  t.notOk((await lab.addressesA()).includes(NET.vip));
  const six = await ip.exec(batchLine(['-6', 'addr', 'add', `${NET.vip6}/64`, 'dev', lab.devA, 'nodad']));
  t.equal(six.ok, true, `an IPv6 address without the -6 option (${six.output})`);
  t.equal(ip.starts, 1, 'one child for all of that');
  // An argument ip cannot parse ends the child; what it said is kept, and the next command starts a new one.
  t.same(await ip.exec('addr add 10.98.0.300/24 dev lo'), {
    ok: false,
    output: 'ip -batch exited (code 1): Error: any valid prefix is expected rather than "10.98.0.300/24".',
  });
  t.same(await ip.exec(batchLine(['-6', 'addr', 'del', `${NET.vip6}/64`, 'dev', lab.devA])), { ok: true, output: '' });
  t.equal(ip.starts, 2);
});

t.test('nft -i session: no history in the agent\'s home, and a fresh child after retireAfter transactions', async (t) => {
  const { lab } = await setup(t);
  const home = mkdtempSync(join(tmpdir(), 'hapair-nft-home-'));
  const savedHome = process.env['HOME'];
  process.env['HOME'] = home;
  t.teardown(() => {
    if (savedHome === undefined) delete process.env['HOME'];
    else process.env['HOME'] = savedHome;
    rmSync(home, { recursive: true, force: true });
  });
  const history = join(home, '.nft.history');
  // Control: this nft, run interactively by hand, saves its history under $HOME at the end of its input.
  spawnSync(paths.nft, ['-i'], { input: 'describe ct mark\n', env: { ...process.env, HOME: home } });
  if (!existsSync(history)) {
    t.comment(`skipped: this nft (${paths.nft}) keeps no history file; nothing to check`);
    return;
  }
  rmSync(history);

  const nft = new InteractiveNft(lab.runA, { nftPath: paths.nft, retireAfter: 3 });
  t.teardown(() => nft.close());
  const vip = parseVip(`${NET.vip}/24`);
  if (!vip.ok) throw new Error(vip.error);
  await lab.must(lab.runA, [paths.nft, '-f', '-'], { input: fenceScript([vip.vip], null) });
  for (let i = 0; i < 7; i++) {
    const r = await nft.exec(leaseCommand([vip.vip], 500 + i, false));
    t.equal(r.ok, true, `transaction ${i + 1} (${r.output})`);
  }
  t.equal(nft.starts, 3, 'three children for seven transactions');
  t.equal(nft.retired, 2);
  // The retired children ended at the end of their input, as on an agent's exit: the moment they save history.
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(existsSync(history), 'no .nft.history written in the agent\'s home');
});
