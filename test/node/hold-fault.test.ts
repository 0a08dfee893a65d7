import t from 'tap';
import { HoldFault } from '../../src/node/hold-fault.js';

const options = { reportAfterMs: 3000, stickyMs: 30_000, maxStickyMs: 100_000 };
const SENTENCE = 'fw1: its network layer failed to take or keep the VIPs for 3 s or more: ';

t.test('failures shorter than reportAfterMs are not reported; a success ends the streak', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 1000, 'nft: busy');
  t.equal(f.failing(1999), null, 'one failed renewal is no fault yet');
  t.equal(f.failing(2000), 'nft: busy', 'NETWORK_FAULT shows it after a second of failures');
  t.equal(f.problem('fw1', 3999), null);
  f.succeeded('hold');
  t.equal(f.failing(9000), null);
  f.failed('hold', 5000, 'nft: busy');
  t.equal(f.problem('fw1', 7999), null, 'counted from the first failure after the success');
  t.equal(f.problem('fw1', 8000), `${SENTENCE}nft: busy`);
});

t.test('a streak is reported once it lasts, with its first error, even with no further failure (a takeover not retried)', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'ip: first');
  f.failed('hold', 1500, 'ip: second, with a detail that changes every time (17 ms)');
  t.equal(f.problem('fw1', 4200), `${SENTENCE}ip: first`);
  t.equal(f.problem('fw1', 9000), f.problem('fw1', 4200), 'the same sentence while it lasts: a health report is not rewritten for it');
});

t.test('the two sources do not clear each other', async (t) => {
  const f = new HoldFault(options);
  f.failed('check', 0, 'VIP 10.0.0.1/24 missing and cannot be added back: RTNETLINK answers: Operation not permitted');
  f.succeeded('hold'); // the fence renewals work
  t.match(f.problem('fw1', 3000), /for 3 s or more: VIP 10\.0\.0\.1\/24 missing/);
  f.succeeded('check');
  t.equal(f.problem('fw1', 3001), null);
});

t.test('once the node stops holding, a reported streak stays shown for stickyMs, a short one not at all', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(3500);
  t.equal(f.failing(3500), null, 'nothing is being tried any more');
  t.equal(f.problem('fw1', 3500 + 29_999), `${SENTENCE}nft: busy`);
  t.equal(f.problem('fw1', 3500 + 30_000), null);
  f.stopped(3500 + 30_000);
  t.equal(f.problem('fw1', 3500 + 30_001), null, 'stopping again without a new streak shows nothing');

  const g = new HoldFault(options);
  g.failed('hold', 0, 'nft: busy');
  g.stopped(2999);
  t.equal(g.problem('fw1', 3000), null, 'released before it lasted: nothing to keep');
});

t.test('each fault until a success doubles the window, up to maxStickyMs; a success resets it', async (t) => {
  const f = new HoldFault(options);
  let now = 0;
  const fault = (): number => {
    f.failed('hold', now, 'nft: busy');
    now += 3000;
    f.stopped(now);
    const from = now;
    while (f.problem('fw1', now) !== null) now += 1000;
    return now - from;
  };
  t.same([fault(), fault(), fault(), fault()], [30_000, 60_000, 100_000, 100_000]);
  f.succeeded('hold');
  t.equal(fault(), 30_000, 'back to stickyMs after the node held the VIPs');
});

t.test('a success after the node holds again forgets a shown failure', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(5000);
  f.succeeded('hold');
  t.equal(f.problem('fw1', 5001), null);
});
