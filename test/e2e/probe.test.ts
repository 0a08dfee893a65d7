/** The probe's analysis: longest silence and interleaved answers (no lab needed). */
import t from 'tap';
import { between, hostRuns, interleaving, longestGap, type ProbeRow } from './probe.js';

/** Rows every 5 ms from t=0; `hosts` gives who answered each, '-' for nobody, 'a+b' for both. */
function rows(hosts: string): ProbeRow[] {
  return hosts.split(' ').map((h, seq) => {
    const list = h === '-' ? [] : h.split('+');
    return { seq, sentAt: seq * 5, host: list[0] ?? null, hosts: list };
  });
}

t.test('longestGap measures between answered probes, and counts silence at either end', async (t) => {
  t.same(longestGap([]), { from: 0, to: 0, ms: 0 });
  t.equal(longestGap(rows('a a a a')).ms, 5);
  t.same(longestGap(rows('a - - - b b')), { from: 0, to: 20, ms: 20 });
  t.equal(longestGap(rows('a - b - - - - - b')).ms, 30, 'the longest of two gaps');
  t.same(longestGap(rows('- - - a')), { from: 0, to: 15, ms: 15 }, 'silence at the start counts from the first probe');
  t.same(longestGap(rows('a a - - - -')), { from: 5, to: 25, ms: 20 }, 'silence at the end counts up to the last probe');
  t.equal(longestGap(rows('- - -')).ms, 10, 'nothing answered: the whole window');
});

t.test('hostRuns collapses repeats and skips silence', async (t) => {
  t.same(
    hostRuns(rows('a a - b b - b a')).map((r) => [r.host, r.first, r.last, r.count]),
    [
      ['a', 0, 5, 2],
      ['b', 15, 30, 3],
      ['a', 35, 35, 1],
    ],
  );
  t.same(hostRuns(rows('- -')), []);
});

t.test('interleaving: back and forth within the window, or one probe answered twice', async (t) => {
  t.equal(interleaving(rows('a a - - b b b'), 1000), null, 'a clean handover');
  t.equal(interleaving(rows('a a b b a a'), 5), null, 'a move back after longer than the window is not flagged');
  const flip = interleaving(rows('a a b a b'), 1000);
  t.ok(flip, 'a, b, a within the window');
  t.equal(flip?.at, 10);
  t.match(interleaving(rows('a a+b b'), 1), { at: 5, detail: /answered by a and b/ }, 'two answers to one probe');
  t.equal(interleaving(rows('a - b'), 1000), null);
});

t.test('between selects by send time, end exclusive', async (t) => {
  t.same(
    between(rows('a b c d'), 5, 15).map((r) => r.host),
    ['b', 'c'],
  );
  t.same(
    between(rows('a b c d'), 10).map((r) => r.host),
    ['c', 'd'],
  );
});
