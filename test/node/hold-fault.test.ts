import t from 'tap';
import { HoldFault } from '../../src/node/hold-fault.js';

const options = { reportAfterMs: 3000, stickyMs: 30_000 };

t.test('failures shorter than reportAfterMs are not reported; a success ends the streak', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 1000, 'nft: busy');
  t.equal(f.failing(), 'nft: busy', 'NETWORK_FAULT can show it at once');
  t.equal(f.problem('fw1', 3999), null);
  f.succeeded('hold');
  t.equal(f.failing(), null);
  f.failed('hold', 5000, 'nft: busy');
  t.equal(f.problem('fw1', 7999), null, 'counted from the first failure after the success');
  t.equal(f.problem('fw1', 8000), 'fw1: its network layer failed to take or keep the VIPs for 3.0 s: nft: busy');
});

t.test('a streak is reported once it lasts, with its latest error, even with no further failure (a takeover not retried)', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'ip: first');
  f.failed('hold', 1500, 'ip: second');
  t.equal(f.problem('fw1', 4200), 'fw1: its network layer failed to take or keep the VIPs for 4.2 s: ip: second');
});

t.test('the two sources do not clear each other', async (t) => {
  const f = new HoldFault(options);
  f.failed('check', 0, 'VIP 10.0.0.1/24 missing and cannot be added back: RTNETLINK answers: Operation not permitted');
  f.succeeded('hold'); // the fence renewals work
  t.match(f.problem('fw1', 3000), /for 3\.0 s: VIP 10\.0\.0\.1\/24 missing/);
  f.succeeded('check');
  t.equal(f.problem('fw1', 3001), null);
});

t.test('once the node stops holding, a reported streak stays shown for stickyMs, a short one not at all', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(3500);
  t.equal(f.failing(), null, 'nothing is being tried any more');
  t.equal(f.problem('fw1', 3500 + 29_999), 'fw1: its network layer failed to take or keep the VIPs for 3.5 s: nft: busy');
  t.equal(f.problem('fw1', 3500 + 30_000), null);

  const g = new HoldFault(options);
  g.failed('hold', 0, 'nft: busy');
  g.stopped(2999);
  t.equal(g.problem('fw1', 3000), null, 'released before it lasted: nothing to keep');
});

t.test('a success after the node holds again forgets a shown failure', async (t) => {
  const f = new HoldFault(options);
  f.failed('hold', 0, 'nft: busy');
  f.stopped(5000);
  f.succeeded('hold');
  t.equal(f.problem('fw1', 5001), null);
});

t.test('durations under a second read in ms', async (t) => {
  const f = new HoldFault({ reportAfterMs: 200, stickyMs: 1000 });
  f.failed('hold', 0, 'x');
  t.equal(f.problem('fw1', 250), 'fw1: its network layer failed to take or keep the VIPs for 250 ms: x');
});
