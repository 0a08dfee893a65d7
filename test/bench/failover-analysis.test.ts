/** The failover bench's pure parts: outages from probe rows, two-host time, the takeover breakdown, the result shape (no lab). */
import t from 'tap';
import {
  answeringIntervals,
  compare,
  crashBreakdown,
  failoverResult,
  formatTable,
  longestSendGapMs,
  median,
  outageMs,
  overlapMs,
  handoverAt,
  summarizePartition,
  type MeasuredRuns,
} from '../../bench/lib/failover-analysis.js';
import type { ProbeRow } from '../e2e/probe.js';

/** Rows every 2 ms from t=1000; `hosts` gives who answered each, '-' for nobody. */
function rows(hosts: string, start = 1000, every = 2): ProbeRow[] {
  return hosts.split(' ').map((h, seq) => {
    const list = h === '-' ? [] : h.split('+');
    return { seq, sentAt: start + seq * every, host: list[0] ?? null, hosts: list };
  });
}

t.test('outageMs: the longest wait for an answer from just before the fault on', async (t) => {
  // fw1 answers until 1004, silence, fw2 from 1014.
  const r = rows('fw1 fw1 fw1 - - - - fw2 fw2');
  t.equal(outageMs(r, 1006), 10, 'from the last answer (1004) to the first after (1014)');
  t.equal(outageMs(r, 1006, 0), 8, 'without the lead, the window starts at the fault (1006..1014)');
  const early = rows('fw1 - - - - - fw1 fw1 fw1 fw1 fw1 - - fw2', 1000);
  t.equal(outageMs(early, 1020, 0), 6, 'an earlier, longer gap outside the window does not count');
  t.equal(outageMs(rows('fw1 fw1 - - - -'), 1003), 8, 'no recovery: the silence up to the last probe counts');
});

t.test('longestSendGapMs: pauses of the client itself, answered or not', async (t) => {
  const r = [...rows('a a - a', 1000), ...rows('a a', 1030)];
  t.equal(longestSendGapMs(r, 1000), 24, '1006 to 1030');
  t.equal(longestSendGapMs(r, 1030), 2, 'only from 1030 on');
});

t.test('two hosts answering: intervals per pinned probe and their overlap', async (t) => {
  const viaFw1 = rows('a a a a a a a a a a - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - a a', 0, 2);
  const viaFw2 = rows('- - - - - b b b b b b b b b b - - - - - - - - - - - - - - - - - - - - - - - - - - -', 0, 2);
  const i1 = answeringIntervals(viaFw1, 50, 2);
  const i2 = answeringIntervals(viaFw2, 50, 2);
  t.same(i1, [{ from: 0, to: 18 }, { from: 80, to: 82 }], 'a gap longer than 50 ms splits an interval');
  t.same(i2, [{ from: 10, to: 28 }]);
  t.equal(overlapMs(i1, i2), 8, 'both answered from 10 to 18 ms');
  t.equal(overlapMs(i1, []), 0, 'one host only: no overlap');
  t.same(answeringIntervals(rows('- a -', 0, 2), 50, 2), [{ from: 2, to: 4 }], 'a lone answer counts one probe interval');
  t.equal(overlapMs([{ from: 0, to: 10 }, { from: 20, to: 30 }], [{ from: 5, to: 25 }]), 10, 'overlap summed across intervals');
});

t.test('median, summaries and ratios', async (t) => {
  t.equal(median([5, 1, 3]), 3);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  const c = compare([100, 300, 200], [1000, 3000, 2000]);
  t.same(c.hapair, { medianMs: 200, maxMs: 300, samplesMs: [100, 300, 200] });
  t.same(c.ratio, { median: 0.1, max: 0.1 });
  t.same(compare([0, 0], [0, 0]).ratio, { median: 1, max: 1 }, 'both zero: equal');
  const p = summarizePartition([
    { dualVipMs: 0, postHealBlackholeMs: 3 },
    { dualVipMs: 7000, postHealBlackholeMs: 24_000 },
    { dualVipMs: 6500, postHealBlackholeMs: 2 },
  ]);
  t.equal(p.dualVipMs, 7000, 'the fixed key is the worst run');
  t.equal(p.postHealBlackholeMs, 24_000);
  t.equal(p.medianDualVipMs, 6500);
  t.equal(p.runsWithDualVip, 2);
});

const log = (time: number, msg: string): string => JSON.stringify({ level: 30, time, node: 'fw2', msg });

t.test('crashBreakdown times each step of the takeover from the taker\'s log', async (t) => {
  const text = [
    log(900, 'raft: follower, leader fw1'), // before the fault: ignored
    log(2100, 'raft: pre-candidate, leader unknown'),
    log(2105, 'raft: candidate, leader unknown'),
    log(2110, 'raft: leader, leader fw2'),
    log(2125, 'proposing to take the active role (epoch 2, failover)'),
    log(2130, 'active role granted to fw2 (epoch 2, failover)'),
    log(2140, 'taking the VIPs (epoch 2, fence 870 ms)'),
    '{"level":30,"time":2141,"part":"api","msg":"request completed"}',
    'not json',
    log(2150, 'now ACTIVE: holding 10.231.0.100/24 (epoch 2)'),
    log(2152, 'announcing the VIPs (epoch 2, took-role)'),
  ].join('\n');
  t.same(crashBreakdown(text, 1000, 2190), {
    detection: 1100,
    election: 10,
    grant: 20,
    leaseWait: 10,
    ipAddrAdd: 10,
    firstGarp: 2,
    client: 38,
  });
  t.equal(crashBreakdown(text, 1000, null), null, 'no answer from the taker: not timed');
  t.equal(crashBreakdown(text.replace('now ACTIVE', 'still waiting'), 1000, 2190), null, 'a missing step: not timed');
  t.equal(crashBreakdown(text, 2200, 2300), null, 'nothing after the fault');
  const old = [log(1500, 'handing leadership to fw1: executeIntentRule (failback)'), log(1510, 'VIPs released: this node is not active'), log(2500, 'handing leadership to fw1: x')].join('\n');
  t.equal(handoverAt(old, 1000), 1500);
  t.equal(handoverAt(old, 1600), 2500);
  t.equal(handoverAt(old, 2600), null);
});

t.test('the result has the shape fixed in issue 5 (plus added keys) and prints a table', async (t) => {
  const five = (base: number): number[] => [base, base + 10, base + 20, base + 30, base + 40];
  const partition = [0, 0, 0, 0, 0].map((d) => ({ dualVipMs: d, postHealBlackholeMs: 2 }));
  const m: MeasuredRuns = {
    hapair: {
      crashDefault: five(1000),
      crashFast: five(200),
      switchover: five(50),
      failback: five(40),
      partition,
      breakdownDefault: [null],
      breakdownFast: [{ detection: 120, election: 5, grant: 20, leaseWait: 9, ipAddrAdd: 8, firstGarp: 3, client: 40 }],
      breakdownSwitchover: [],
      breakdownFailback: [null, null],
    },
    keepalived: {
      crashDefault: five(3000),
      crashFast: five(320),
      switchover: five(610),
      failback: five(20),
      partition: partition.map(() => ({ dualVipMs: 7000, postHealBlackholeMs: 3 })),
    },
  };
  const r = failoverResult(m, {
    when: '2026-11-29T00:00:00.000Z',
    machine: 'test',
    runs: 5,
    profiles: { default: { hapair: 'h', keepalived: 'k' }, fast: { hapair: 'hf', keepalived: 'kf' } },
    load: { before: [1, 1, 1], after: [2, 2, 2] },
    probeStallMaxMs: 12,
    durationS: 600,
  });
  const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  t.match(json, { when: String, machine: String, runs: 5 });
  const scenarios = json['scenarios'] as Record<string, Record<string, Record<string, unknown>>>;
  t.same(Object.keys(scenarios).sort(), ['crashDefault', 'crashFast', 'failback', 'partition', 'switchover']);
  for (const name of ['crashDefault', 'crashFast', 'switchover', 'failback']) {
    const s = scenarios[name];
    t.match(s, { hapair: { medianMs: Number, maxMs: Number }, keepalived: { medianMs: Number, maxMs: Number }, ratio: { median: Number, max: Number } }, name);
  }
  t.match(scenarios['partition'], { hapair: { dualVipMs: 0, postHealBlackholeMs: 2 }, keepalived: { dualVipMs: 7000, postHealBlackholeMs: 3 } });
  t.same(scenarios['crashDefault']?.['ratio'], { median: 0.34, max: 0.34 }, '1020 / 3020 and 1040 / 3040');
  t.equal(r.crashBreakdown.default.medianMs, null);
  t.equal(r.crashBreakdown.fast.medianMs?.detection, 120);
  const table = formatTable(r);
  t.match(table, /crashDefault\s+1020 \/ 1040\s+3020 \/ 3040\s+0\.34 \/ 0\.34/);
  t.match(table, /no run could be timed/);
  t.match(table, /detection 120, election 5/);
  t.equal(r.moveBreakdown.failback.timedRuns, 0);
});
