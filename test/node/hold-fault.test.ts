import t from 'tap';
import { HoldFault } from '../../src/node/hold-fault.js';

const options = { reportAfterMs: 3000, stickyMs: 30_000, maxStickyMs: 100_000 };
const SENTENCE = 'fw1: its network layer failed to take or keep the VIPs for 3 s or more: ';

t.test('failures shorter than reportAfterMs are not reported; a success ends the streak', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 1000, 'nft: busy');
  t.equal(f.failing(1999), null, 'one failed renewal is no fault yet');
  t.equal(f.failing(2000), 'nft: busy', 'NETWORK_FAULT shows it after a second of failures');
  t.equal(f.current('fw1', 3999), null);
  f.succeeded('hold', 4000);
  t.equal(f.failing(9000), null);
  f.failed('hold', 5000, 'nft: busy');
  t.equal(f.current('fw1', 7999), null, 'counted from the first failure after the success');
  t.equal(f.current('fw1', 8000), `${SENTENCE}nft: busy`);
  t.equal(f.past('fw1', 8000), null, 'a current fault is not a past one');
});

t.test('a streak is reported once it lasts, with its first error, even with no further failure (a takeover not retried)', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'ip: first');
  f.failed('hold', 1500, 'ip: second, with a detail that changes every time (17 ms)');
  t.equal(f.current('fw1', 4200), `${SENTENCE}ip: first`);
  t.equal(f.current('fw1', 9000), f.current('fw1', 4200), 'the same sentence while it lasts: a health report is not rewritten for it');
});

t.test('the two sources do not clear each other', async (t) => {
  const f = new HoldFault(options);
  f.failed('check', 0, 'VIP 10.0.0.1/24 missing and cannot be added back: RTNETLINK answers: Operation not permitted');
  f.succeeded('hold', 10); // the fence renewals work
  t.match(f.current('fw1', 3000), /for 3 s or more: VIP 10\.0\.0\.1\/24 missing/);
  f.succeeded('check', 3001);
  t.equal(f.current('fw1', 3001), null);
});

t.test('once the node stops holding, a fault is no longer current but past for stickyMs; a short one is neither', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(3500);
  t.equal(f.failing(3500), null, 'nothing is being tried any more');
  t.equal(f.current('fw1', 3500), null, 'the node itself may take over again (a failover)');
  t.equal(f.past('fw1', 3500 + 29_999), `${SENTENCE}nft: busy`, 'past: the others choose no planned move to it');
  t.equal(f.past('fw1', 3500 + 30_000), null);
  f.stopped(3500 + 30_000);
  t.equal(f.past('fw1', 3500 + 30_001), null, 'stopping again without a new streak shows nothing');

  const g = new HoldFault(options);
  g.failed('hold', 0, 'nft: busy');
  g.stopped(2999);
  t.equal(g.past('fw1', 3000), null, 'released before it lasted: nothing to keep');
});

/** A fault at `now` that lasts 3 s and ends; returns how long it stays past after its end. */
function faultFor(f: HoldFault, clock: { now: number }): number {
  f.failed('hold', clock.now, 'nft: busy');
  clock.now += 3000;
  f.stopped(clock.now);
  const from = clock.now;
  while (f.past('fw1', clock.now) !== null) clock.now += 1000;
  return clock.now - from;
}

t.test('each fault doubles the window, up to maxStickyMs', async (t) => {
  const f = new HoldFault(options);
  const clock = { now: 0 };
  t.same([faultFor(f, clock), faultFor(f, clock), faultFor(f, clock), faultFor(f, clock)], [30_000, 60_000, 100_000, 100_000]);
});

t.test('a short success does not forget the doubling (a takeover that works, then renewals that fail); holding cleanly for stickyMs does', async (t) => {
  const f = new HoldFault(options);
  const clock = { now: 0 };
  t.equal(faultFor(f, clock), 30_000);
  f.succeeded('hold', clock.now); // took the VIPs again
  t.equal(faultFor(f, clock), 60_000, 'the renewals failed right after: still doubled');
  f.succeeded('hold', clock.now);
  f.succeeded('hold', clock.now + 29_999);
  clock.now += 30_000;
  f.succeeded('hold', clock.now);
  t.equal(faultFor(f, clock), 30_000, 'after 30 s of clean holding, back to stickyMs');
});

t.test('the doubling is forgotten after maxStickyMs without a fault', async (t) => {
  const f = new HoldFault(options);
  const clock = { now: 0 };
  faultFor(f, clock);
  t.equal(faultFor(f, clock), 60_000);
  clock.now += 100_000;
  t.equal(faultFor(f, clock), 30_000);
});

t.test('a success while holding again clears a past fault at once', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(5000);
  f.succeeded('hold', 6000);
  t.equal(f.past('fw1', 6001), null);
});

t.test('the doubling is forgotten an hour after the last window even when a success cleared the fault', async (t) => {
  const f = new HoldFault(options);
  const clock = { now: 0 };
  faultFor(f, clock);
  f.succeeded('hold', clock.now); // held for a moment, then a new fault long after
  clock.now += 96_000; // the next fault ends 99 s after the last window
  t.equal(faultFor(f, clock), 60_000, 'within maxStickyMs of the last window: still doubled');
  f.succeeded('hold', clock.now);
  clock.now += 100_000;
  t.equal(faultFor(f, clock), 30_000, 'maxStickyMs after the last window: forgotten');
});
