/** The agent's AnnounceGate: an announcement goes out only once the driver holds the epoch it announces. */
import t from 'tap';
import { AnnounceGate } from '../../src/node/announce-gate.js';

t.test('the epoch is already held: announce at once', async (t) => {
  const g = new AnnounceGate();
  t.equal(g.request(4, 4), true);
  t.equal(g.waiting(), null);
  t.equal(g.applied(4), null, 'nothing left to send after the next renewal');
});

t.test('the hold is queued behind an earlier driver call: the announcement waits for it', async (t) => {
  const g = new AnnounceGate();
  t.equal(g.request(5, null), false, 'not held yet: not sent');
  t.equal(g.applied(null), null, 'the earlier release finished: still waiting');
  t.equal(g.waiting(), 5);
  t.equal(g.applied(5), 5, 'the hold of epoch 5 finished: send it now');
  t.equal(g.applied(5), null, 'once');
});

t.test('a new epoch while the old one is held waits for the new one', async (t) => {
  const g = new AnnounceGate();
  t.equal(g.request(6, 5), false);
  t.equal(g.applied(5), null, 'a renewal of the old epoch does not send it');
  t.equal(g.applied(6), 6);
});

t.test('the VIPs given up before the hold was applied: nothing is sent', async (t) => {
  const g = new AnnounceGate();
  g.request(7, null);
  g.cancel();
  t.equal(g.applied(7), null);
  t.equal(g.waiting(), null);
});

t.test('a later request replaces an earlier one', async (t) => {
  const g = new AnnounceGate();
  g.request(8, null);
  g.request(9, null);
  t.equal(g.applied(8), null);
  t.equal(g.applied(9), 9);
});
