/**
 * The agent's VIP pipeline (src/node/vip-pipeline.ts). Two of its rules were
 * found missing by the role simulator (test/sim, KNOWN.md): a transfer must
 * wait until the driver has released the VIPs, and a hold that waited behind
 * another driver call must not get a fence longer than was decided.
 */
import t, { type Test } from 'tap';
import type { DesiredVipState } from '../../src/network/driver.js';
import { HOLD_RETRY_FIRST_MS, HOLD_RETRY_MAX_MS, VipPipeline } from '../../src/node/vip-pipeline.js';

const VIPS = [{ address: '10.0.0.1/24', interface: 'lan' }];
const hold = (epoch: number, fenceMs: number): DesiredVipState => ({ hold: true, epoch, vips: VIPS, fenceMs });
const release: DesiredVipState = { hold: false };

t.test('one driver call at a time; the latest request wins', async (t) => {
  const p = new VipPipeline();
  const first = hold(3, 800);
  t.same(p.request(first, 0), first, 'the first request starts at once');
  t.ok(p.busy);
  t.equal(p.request(hold(3, 700), 10), null, 'a request while busy waits');
  const latest = hold(3, 600);
  t.equal(p.request(latest, 20), null);
  const next = p.completed(true, 20);
  t.same(next, latest, 'the latest request starts when the call completes; its fence was decided just now');
  t.same(p.applied, first, 'the completed call is what the driver holds');
  t.equal(p.completed(true, 30), null, 'nothing more to do');
  t.same(p.applied, latest);
  t.notOk(p.busy);
});

t.test('a hold that waited behind another call gets only what is left of its fence', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.request(hold(3, 500), 100);
  // The process was frozen, or the driver slow: the call in flight completes 300 ms after the decision.
  const next = p.completed(true, 400);
  t.same(next, hold(3, 200), 'the fence still ends 500 ms after the decision, not 500 ms after the call');
});

t.test('a hold whose fence ran out while it waited is never started', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.request(hold(4, 500), 100);
  t.equal(p.completed(true, 700), null, 'decided 600 ms ago with a 500 ms fence: the next decision decides again');
  t.notOk(p.busy);
  t.same(p.request(hold(4, 500), 710), hold(4, 500), 'a fresh decision starts');
});

t.test('a failed call leaves what the driver holds unchanged', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  t.equal(p.completed(false, 10), null);
  t.same(p.applied, release);
});

t.test('a transfer waits until the driver has released the VIPs', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 5);
  // The decision: release, then transfer. The release is a driver call that takes time.
  t.same(p.request(release, 10), release);
  t.ok(p.deferTransfer({ to: 'fw2', why: 'switchover' }), 'the VIPs are still held: the transfer waits');
  t.equal(p.takeTransfer(), null, 'not before the release completes');
  t.equal(p.completed(true, 30), null);
  t.same(p.takeTransfer(), { to: 'fw2', why: 'switchover' }, 'handed out once released');
  t.equal(p.takeTransfer(), null, 'and only once');
});

t.test('a release asked for again while one runs starts no second call: the transfer goes right after the first', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 5);
  t.same(p.request({ hold: false }, 10), { hold: false });
  t.ok(p.deferTransfer({ to: 'fw2', why: 'switchover' }));
  // The next role pass decides the same release (a new object each time).
  t.equal(p.request({ hold: false }, 15), null, 'one call at a time');
  t.equal(p.completed(true, 20), null, 'nothing more to do');
  t.same(p.takeTransfer(), { to: 'fw2', why: 'switchover' });
});

t.test('nothing held: a release costs no driver call, so a hold decided next starts at once', async (t) => {
  const p = new VipPipeline();
  t.equal(p.request({ hold: false }, 0), null, 'a standby\'s release on every role pass');
  t.notOk(p.busy);
  t.same(p.request(hold(4, 800), 5), hold(4, 800));
});

t.test('a release that failed is tried again when asked again', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 5);
  p.request({ hold: false }, 10);
  p.request({ hold: false }, 15);
  t.same(p.completed(false, 20), { hold: false }, 'the driver still holds the VIPs: the newer release starts');
});

t.test('a release queued behind a renewal holds the transfer back until it is done too', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 5);
  p.request(hold(3, 800), 50);
  t.equal(p.request(release, 60), null, 'the renewal is still under way');
  t.ok(p.deferTransfer({ to: 'fw2', why: 'switchover' }));
  t.same(p.completed(true, 80), release, 'the renewal completes: now the release starts');
  t.equal(p.takeTransfer(), null, 'the renewal left the VIPs held');
  p.completed(true, 90);
  t.same(p.takeTransfer(), { to: 'fw2', why: 'switchover' });
});

t.test('a failed release keeps the transfer back; a new hold cancels it', async (t) => {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 5);
  p.request(release, 10);
  t.ok(p.deferTransfer({ to: 'fw2', why: 'switchover' }));
  p.completed(false, 20);
  t.equal(p.takeTransfer(), null, 'the driver still holds the VIPs');
  p.request(hold(3, 800), 30);
  p.completed(true, 40);
  t.equal(p.takeTransfer(), null, 'the decision changed to holding: the transfer is forgotten');
  p.request(release, 50);
  p.completed(true, 60);
  t.equal(p.takeTransfer(), null, 'still forgotten after a later release');
});

t.test('nothing held: a transfer starts at once', async (t) => {
  const p = new VipPipeline();
  t.notOk(p.deferTransfer({ to: 'fw2', why: 'bootstrap' }));
  t.equal(p.takeTransfer(), null);
});

t.test('renewals are due twice per heartbeat, and only for the epoch held', async (t) => {
  const p = new VipPipeline();
  t.notOk(p.renewalNotDue(3, 0, 100), 'nothing held: due');
  p.request(hold(3, 800), 0);
  t.notOk(p.renewalNotDue(3, 10, 100), 'in flight: due (the request only replaces the desired state)');
  p.completed(true, 10);
  t.ok(p.renewalNotDue(3, 50, 100), '40 ms after the last renewal: not due');
  t.notOk(p.renewalNotDue(3, 60, 100), '50 ms after: due');
  t.notOk(p.renewalNotDue(4, 20, 100), 'another epoch: due');
});

t.test('a failed hold is tried again after a back-off (10 ms doubling to 200 ms), not on every pass; a success resets it', async (t) => {
  const p = new VipPipeline();
  let now = 0;
  const gaps: number[] = [];
  t.same(p.request(hold(3, 800), now), hold(3, 800));
  for (let failures = 0; failures < 7; failures++) {
    const failedAt = now;
    t.equal(p.completed(false, failedAt), null, 'nothing starts right after a failure');
    // Asked on every 1 ms pass, as the role loop would (every 10 ms in the agent).
    let call: DesiredVipState | null = null;
    while (call === null) call = p.request(hold(3, 800), ++now);
    gaps.push(now - failedAt);
  }
  t.same(gaps, [HOLD_RETRY_FIRST_MS, 20, 40, 80, 160, HOLD_RETRY_MAX_MS, HOLD_RETRY_MAX_MS]);
  t.equal(p.completed(true, now), null);
  p.request(hold(3, 800), now + 1);
  t.equal(p.completed(false, now + 1), null);
  t.equal(p.request(hold(3, 800), now + 1 + HOLD_RETRY_FIRST_MS - 1), null);
  t.ok(p.request(hold(3, 800), now + 1 + HOLD_RETRY_FIRST_MS), 'after a success the back-off starts again at 10 ms');
});

/** A pipeline holding epoch 3 since 1 ms whose renewal at 2 ms failed at 3 ms. */
function renewalFailed(t: Test): VipPipeline {
  const p = new VipPipeline();
  p.request(hold(3, 800), 0);
  p.completed(true, 1);
  p.request(hold(3, 800), 2);
  t.equal(p.completed(false, 3), null, 'a renewal failed');
  return p;
}

t.test('a release is never held back by a failed hold', async (t) => {
  const p = renewalFailed(t);
  t.same(p.request(release, 4), release, 'the release starts at once');
});

t.test('the back-off is per epoch: a new grant after failed renewals starts at once', async (t) => {
  const p = renewalFailed(t);
  t.equal(p.request(hold(3, 800), 4), null, 'epoch 3 waits out its back-off');
  t.same(p.request(hold(4, 800), 5), hold(4, 800), 'epoch 4 (the regrant after a lapse) starts at once');
  t.equal(p.completed(false, 6), null);
  t.equal(p.request(hold(4, 800), 6 + HOLD_RETRY_FIRST_MS - 1), null, 'and its own failures start their back-off at 10 ms');
});
