import t from 'tap';
import { desiredVipState } from '../../src/network/driver.js';
import { SimNetworkDriver, findOverlaps } from '../../src/network/sim-driver.js';
import { AssertionError } from '../../src/util/assert.js';

const VIPS = [{ address: '10.0.0.1/24', interface: 'lan' }, { address: '2001:db8::1/64', interface: 'lan' }];

function clock() {
  let now = 0;
  return { now: () => now, set: (ms: number) => (now = ms) };
}

t.test('records holds, renewals, announcements and releases with epoch and time', async (t) => {
  const c = clock();
  const d = new SimNetworkDriver({ node: 'fw1', clock: c.now });
  t.same(await d.setVipState({ hold: true, epoch: 1, vips: VIPS, fenceMs: 500 }), { ok: true });
  await d.announce(VIPS, 1);
  c.set(100);
  await d.setVipState({ hold: true, epoch: 1, vips: VIPS, fenceMs: 500 });
  c.set(300);
  await d.setVipState({ hold: false });
  t.same(d.records(), [
    { at: 0, op: 'hold', epoch: 1, vips: ['10.0.0.1/24', '2001:db8::1/64'], fenceMs: 500, started: true },
    { at: 0, op: 'announce', epoch: 1, vips: ['10.0.0.1/24', '2001:db8::1/64'] },
    { at: 100, op: 'hold', epoch: 1, vips: ['10.0.0.1/24', '2001:db8::1/64'], fenceMs: 500, started: false },
    { at: 300, op: 'release', epoch: 1 },
  ]);
  t.same(d.intervals(), [{ node: 'fw1', epoch: 1, start: 0, end: 300, endedBy: 'release' }]);
  t.equal(d.holding(), null);
});

t.test('the fence ends an interval by itself when renewals stop (a frozen agent)', async (t) => {
  const c = clock();
  const d = new SimNetworkDriver({ node: 'fw1', clock: c.now });
  d.setVipStateSync({ hold: true, epoch: 2, vips: VIPS, fenceMs: 400 });
  t.equal(d.holding(399), 2);
  t.equal(d.holding(400), null, 'silent exactly when the fence runs out');
  c.set(1000); // the agent wakes up long after
  t.same(d.intervals(), [{ node: 'fw1', epoch: 2, start: 0, end: 400, endedBy: 'fence' }]);
  d.setVipStateSync({ hold: true, epoch: 2, vips: VIPS, fenceMs: 400 });
  t.match(d.records().at(-1), { op: 'hold', started: true }, 'holding again after expiry starts a new interval');
  t.match(d.records().at(-2), { op: 'fence-expired', at: 400, epoch: 2 });
  t.same(d.intervals().at(-1), { node: 'fw1', epoch: 2, start: 1000, end: 1400, endedBy: 'open' });
});

t.test('a new epoch starts a new interval', async (t) => {
  const c = clock();
  const d = new SimNetworkDriver({ node: 'fw1', clock: c.now });
  d.setVipStateSync({ hold: true, epoch: 1, vips: VIPS, fenceMs: 400 });
  c.set(100);
  d.setVipStateSync({ hold: true, epoch: 3, vips: VIPS, fenceMs: 400 });
  t.same(d.intervals().map((i) => [i.epoch, i.start, i.end, i.endedBy]), [[1, 0, 100, 'epoch-change'], [3, 100, 500, 'open']]);
});

t.test('findOverlaps finds two nodes answering at once, and only that', async (t) => {
  const c = clock();
  const a = new SimNetworkDriver({ node: 'fw1', clock: c.now });
  const b = new SimNetworkDriver({ node: 'fw2', clock: c.now });
  a.setVipStateSync({ hold: true, epoch: 1, vips: VIPS, fenceMs: 300 });
  c.set(300); // a's fence ran out at 300
  b.setVipStateSync({ hold: true, epoch: 2, vips: VIPS, fenceMs: 300 });
  t.same(findOverlaps([...a.intervals(), ...b.intervals()]), [], 'back to back is not an overlap');
  c.set(400);
  a.setVipStateSync({ hold: true, epoch: 1, vips: VIPS, fenceMs: 300 });
  const overlaps = findOverlaps([...a.intervals(), ...b.intervals()]);
  t.equal(overlaps.length, 1);
  t.same(overlaps[0]?.map((i) => i.node), ['fw2', 'fw1']);
});

t.test('policy applies atomically: a refused ruleset leaves the previous one in force', async (t) => {
  const d = new SimNetworkDriver({ node: 'fw1', clock: () => 0, policyCheck: (r) => (r.includes('bogus') ? 'syntax error' : null) });
  t.same(await d.applyPolicy('table inet a {}', 1), { ok: true });
  t.same(await d.applyPolicy('table bogus', 2), { ok: false, error: 'syntax error' });
  t.same(d.policy, { ruleset: 'table inet a {}', revision: 1 });
  t.match(d.records().at(-1), { op: 'policy', revision: 2, ok: false, error: 'syntax error' });
});

t.test('close releases, is idempotent, and refuses later actions', async (t) => {
  const c = clock();
  const d = new SimNetworkDriver({ node: 'fw1', clock: c.now });
  d.setVipStateSync({ hold: true, epoch: 1, vips: VIPS, fenceMs: 300 });
  c.set(50);
  await d.close();
  await d.close();
  t.same(d.intervals(), [{ node: 'fw1', epoch: 1, start: 0, end: 50, endedBy: 'release' }]);
  t.same(d.setVipStateSync({ hold: true, epoch: 1, vips: VIPS, fenceMs: 300 }), { ok: false, error: 'driver is closed' });
  t.same(await d.reconcile(), { repaired: [], errors: [] });
});

t.test('records are bounded; time must not go backwards', async (t) => {
  const c = clock();
  const d = new SimNetworkDriver({ node: 'fw1', clock: c.now, maxRecords: 3 });
  for (let i = 0; i < 5; i++) d.announceSync(VIPS, 1);
  t.equal(d.records().length, 3);
  t.equal(d.droppedRecords, 2);
  c.set(10);
  d.announceSync(VIPS, 1);
  c.set(5);
  t.throws(() => d.announceSync(VIPS, 1), AssertionError);
});

t.test('desiredVipState converts a role decision to milliseconds', async (t) => {
  t.same(desiredVipState({ type: 'vips', hold: true, epoch: 4, fenceTicks: 7, vips: VIPS, mode: 'lease' }, 100), {
    hold: true,
    epoch: 4,
    vips: VIPS,
    fenceMs: 700,
  });
  t.same(desiredVipState({ type: 'vips', hold: false, why: 'x' }, 100), { hold: false });
});

t.test('checkDevices: every device exists unless the simulated host lists its devices', async (t) => {
  const any = new SimNetworkDriver({ node: 'fw1', clock: () => 0 });
  t.same(await any.checkDevices(['eth9']), { eth9: null });
  const listed = new SimNetworkDriver({ node: 'fw1', clock: () => 0, devices: ['lan0'] });
  t.same(await listed.checkDevices(['lan0', 'eth9']), { lan0: null, eth9: 'device "eth9" does not exist on this (simulated) host' });
});
