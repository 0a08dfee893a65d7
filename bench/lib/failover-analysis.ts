/**
 * The pure side of `npm run bench -- failover`: from probe records and
 * agent logs to the numbers in bench/results/failover.json and the printed
 * table. No lab, no processes: test/bench/failover-analysis.test.ts checks it.
 */
import { between, longestGap, type ProbeRow } from '../../test/e2e/probe.js';

export type System = 'hapair' | 'keepalived';
export type OutageScenario = 'crashDefault' | 'crashFast' | 'switchover' | 'failback';
export const OUTAGE_SCENARIOS: readonly OutageScenario[] = ['crashDefault', 'crashFast', 'switchover', 'failback'];

export interface OutageSummary {
  readonly medianMs: number;
  readonly maxMs: number;
  /** Every run's outage, in run order (an added key: the fixed shape is medianMs and maxMs). */
  readonly samplesMs: readonly number[];
}

export interface OutageComparison {
  readonly hapair: OutageSummary;
  readonly keepalived: OutageSummary;
  /** hapair / keepalived: below 1 means hapair's clients wait less. */
  readonly ratio: { readonly median: number; readonly max: number };
}

export interface PartitionSample {
  /** Time both hosts answered for the VIP (each watched through its own MAC). */
  readonly dualVipMs: number;
  /** The longest time the client waited for an answer after the heal. */
  readonly postHealBlackholeMs: number;
}

export interface PartitionSummary {
  /**
   * The worst run (the fixed keys): one run with two hosts answering, or one
   * blackhole, is what an operator has to plan for; medians are added.
   */
  readonly dualVipMs: number;
  readonly postHealBlackholeMs: number;
  readonly medianDualVipMs: number;
  readonly medianPostHealBlackholeMs: number;
  readonly runsWithDualVip: number;
  readonly samples: readonly PartitionSample[];
}

export interface FailoverResult {
  readonly when: string;
  readonly machine: string;
  readonly runs: number;
  readonly scenarios: Record<OutageScenario, OutageComparison> & {
    readonly partition: { readonly hapair: PartitionSummary; readonly keepalived: PartitionSummary };
  };
  /** Everything below is added to the fixed shape: how the numbers were made. */
  readonly profiles: Record<'default' | 'fast', { readonly hapair: string; readonly keepalived: string }>;
  readonly crashBreakdown: Record<'default' | 'fast', BreakdownSummary>;
  /** The same steps for hapair's planned moves, the first one measured from the old active handing leadership over. */
  readonly moveBreakdown: Record<'switchover' | 'failback', BreakdownSummary>;
  readonly load: { readonly before: readonly number[]; readonly after: readonly number[] };
  /** The longest the client probe itself paused between two sends in any measured window (measurement noise floor). */
  readonly probeStallMaxMs: number;
  readonly durationS: number;
}

// --- outages ---------------------------------------------------------------------

/**
 * The longest time a client retrying every few ms waited for an answer,
 * from just before the fault to the end of the run's window. Silence at the
 * end of the window counts (a run that never recovered is not hidden).
 */
export function outageMs(rows: readonly ProbeRow[], faultAt: number, leadMs = 50): number {
  return round1(longestGap(between(rows, faultAt - leadMs)).ms);
}

/**
 * The longest pause between two probes *sent* from `from` on: the client
 * process itself stalled (a loaded machine), so no outage shorter than this
 * can be told apart from the client's own pause.
 */
export function longestSendGapMs(rows: readonly ProbeRow[], from: number): number {
  let best = 0;
  let previous: number | null = null;
  for (const r of rows) {
    if (r.sentAt < from) continue;
    if (previous !== null) best = Math.max(best, r.sentAt - previous);
    previous = r.sentAt;
  }
  return round1(best);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(samplesMs: readonly number[]): OutageSummary {
  return { medianMs: round1(median(samplesMs)), maxMs: round1(Math.max(...samplesMs)), samplesMs: samplesMs.map(round1) };
}

export function compare(hapair: readonly number[], keepalived: readonly number[]): OutageComparison {
  const h = summarize(hapair);
  const k = summarize(keepalived);
  return { hapair: h, keepalived: k, ratio: { median: ratio(h.medianMs, k.medianMs), max: ratio(h.maxMs, k.maxMs) } };
}

/** a / b to two decimals; 0 / 0 is 1 (equal), x / 0 is null-like Infinity kept out of JSON as -1. */
export function ratio(a: number, b: number): number {
  if (b === 0) return a === 0 ? 1 : -1;
  return Math.round((a / b) * 100) / 100;
}

// --- two hosts answering -------------------------------------------------------------

export interface Interval {
  readonly from: number;
  readonly to: number;
}

/**
 * When a host answered, from a probe pinned to its MAC: runs of answered
 * probes no more than `maxGapMs` apart, each from the first to the last
 * answered send time (a lone answer counts as `probeEveryMs` long).
 */
export function answeringIntervals(rows: readonly ProbeRow[], maxGapMs: number, probeEveryMs: number): Interval[] {
  const out: Interval[] = [];
  let current: { from: number; to: number } | null = null;
  for (const r of rows) {
    if (r.host === null) continue;
    if (current !== null && r.sentAt - current.to <= maxGapMs) current.to = r.sentAt;
    else {
      if (current !== null) out.push(close(current, probeEveryMs));
      current = { from: r.sentAt, to: r.sentAt };
    }
  }
  if (current !== null) out.push(close(current, probeEveryMs));
  return out;
}

function close(i: { from: number; to: number }, minMs: number): Interval {
  return { from: i.from, to: Math.max(i.to, i.from + minMs) };
}

/** Total time covered by both interval lists (each sorted and non-overlapping). */
export function overlapMs(a: readonly Interval[], b: readonly Interval[]): number {
  let total = 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Interval;
    const y = b[j] as Interval;
    total += Math.max(0, Math.min(x.to, y.to) - Math.max(x.from, y.from));
    if (x.to < y.to) i++;
    else j++;
  }
  return round1(total);
}

export function summarizePartition(samples: readonly PartitionSample[]): PartitionSummary {
  const dual = samples.map((s) => s.dualVipMs);
  const blackhole = samples.map((s) => s.postHealBlackholeMs);
  return {
    dualVipMs: round1(Math.max(...dual)),
    postHealBlackholeMs: round1(Math.max(...blackhole)),
    medianDualVipMs: round1(median(dual)),
    medianPostHealBlackholeMs: round1(median(blackhole)),
    runsWithDualVip: dual.filter((d) => d > 0).length,
    samples,
  };
}

// --- where hapair's crash time goes ---------------------------------------------------------

/** The steps of a takeover, in order, each measured from the end of the one before. */
export const PHASES = ['detection', 'election', 'grant', 'leaseWait', 'ipAddrAdd', 'firstGarp', 'client'] as const;
export type Phase = (typeof PHASES)[number];

export const PHASE_TEXT: Readonly<Record<Phase, string>> = {
  detection: 'fault -> taker starts its PreVote (election timeout since its last heartbeat)',
  election: 'PreVote + Vote -> taker is Raft leader',
  grant: 'leader -> lease grant committed and applied (own noop first)',
  leaseWait: 'grant applied -> Raft leader lease acknowledged, VIP hold starts',
  ipAddrAdd: 'fence lease written, `ip addr add` done',
  firstGarp: 'VIPs held -> arping started (first gratuitous ARP)',
  client: 'arping started -> first answer the client got from the taker',
};

export type Breakdown = Readonly<Record<Phase, number>>;

interface LogLine {
  readonly time: number;
  readonly msg: string;
}

/** Pino JSON lines; other lines (a stack trace, a partial line) are skipped. */
export function parseLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { time?: unknown; msg?: unknown };
      if (typeof o.time === 'number' && typeof o.msg === 'string') out.push({ time: o.time, msg: o.msg });
    } catch {
      // not a log line
    }
  }
  return out;
}

/**
 * When the old active started a planned move, or null: it releases the VIPs
 * and hands Raft leadership over in the same role tick, and logs the
 * hand-over then (its "VIPs released" line comes only once the addresses are
 * gone, which can be after the taker already holds them).
 */
export function handoverAt(logText: string, after: number): number | null {
  return parseLog(logText).find((l) => l.time >= Math.floor(after) && l.msg.startsWith('handing leadership to'))?.time ?? null;
}

/**
 * The taker's path after a fault at `faultAt` (Unix ms), from its log: when
 * it first campaigned, became leader, saw its grant applied, started taking
 * the VIPs, held them and started announcing; then the client's first answer
 * from it. Null when a step is missing (the run did not go that way).
 */
export function crashBreakdown(logText: string, faultAt: number, firstAnswerAt: number | null): Breakdown | null {
  const lines = parseLog(logText).filter((l) => l.time >= Math.floor(faultAt));
  const at = (test: (msg: string) => boolean, after: number): number | null => lines.find((l) => l.time >= after && test(l.msg))?.time ?? null;
  const campaign = at((m) => m.startsWith('raft: pre-candidate') || m.startsWith('raft: candidate'), 0);
  if (campaign === null) return null;
  const leader = at((m) => m.startsWith('raft: leader'), campaign);
  if (leader === null) return null;
  const granted = at((m) => m.startsWith('active role granted to'), leader);
  if (granted === null) return null;
  const taking = at((m) => m.startsWith('taking the VIPs'), granted);
  if (taking === null) return null;
  const held = at((m) => m.startsWith('now ACTIVE'), taking);
  if (held === null) return null;
  const announced = at((m) => m.startsWith('announcing the VIPs'), held);
  if (announced === null || firstAnswerAt === null) return null;
  return {
    detection: campaign - faultAt,
    election: leader - campaign,
    grant: granted - leader,
    leaseWait: taking - granted,
    ipAddrAdd: held - taking,
    firstGarp: announced - held,
    client: firstAnswerAt - announced,
  };
}

export interface BreakdownSummary {
  /** Median of each phase over the runs that could be timed (ms; the bench has the agents log to the µs). */
  readonly medianMs: Breakdown | null;
  readonly timedRuns: number;
}

export function summarizeBreakdowns(runs: readonly (Breakdown | null)[]): BreakdownSummary {
  const timed = runs.filter((b): b is Breakdown => b !== null);
  if (timed.length === 0) return { medianMs: null, timedRuns: 0 };
  const m = Object.fromEntries(PHASES.map((p) => [p, round1(median(timed.map((b) => b[p])))])) as Record<Phase, number>;
  return { medianMs: m, timedRuns: timed.length };
}

// --- the result file ---------------------------------------------------------------------

export interface MeasuredRuns {
  readonly hapair: {
    readonly crashDefault: readonly number[];
    readonly crashFast: readonly number[];
    readonly switchover: readonly number[];
    readonly failback: readonly number[];
    readonly partition: readonly PartitionSample[];
    readonly breakdownDefault: readonly (Breakdown | null)[];
    readonly breakdownFast: readonly (Breakdown | null)[];
    readonly breakdownSwitchover: readonly (Breakdown | null)[];
    readonly breakdownFailback: readonly (Breakdown | null)[];
  };
  readonly keepalived: {
    readonly crashDefault: readonly number[];
    readonly crashFast: readonly number[];
    readonly switchover: readonly number[];
    readonly failback: readonly number[];
    readonly partition: readonly PartitionSample[];
  };
}

/** bench/results/failover.json: the shape fixed in issue 5, plus added keys. */
export function failoverResult(
  m: MeasuredRuns,
  context: Pick<FailoverResult, 'when' | 'machine' | 'runs' | 'profiles' | 'load' | 'probeStallMaxMs' | 'durationS'>,
): FailoverResult {
  return {
    when: context.when,
    machine: context.machine,
    runs: context.runs,
    scenarios: {
      crashDefault: compare(m.hapair.crashDefault, m.keepalived.crashDefault),
      crashFast: compare(m.hapair.crashFast, m.keepalived.crashFast),
      switchover: compare(m.hapair.switchover, m.keepalived.switchover),
      failback: compare(m.hapair.failback, m.keepalived.failback),
      partition: { hapair: summarizePartition(m.hapair.partition), keepalived: summarizePartition(m.keepalived.partition) },
    },
    profiles: context.profiles,
    crashBreakdown: { default: summarizeBreakdowns(m.hapair.breakdownDefault), fast: summarizeBreakdowns(m.hapair.breakdownFast) },
    moveBreakdown: { switchover: summarizeBreakdowns(m.hapair.breakdownSwitchover), failback: summarizeBreakdowns(m.hapair.breakdownFailback) },
    load: context.load,
    probeStallMaxMs: context.probeStallMaxMs,
    durationS: context.durationS,
  };
}

// --- the printed table -----------------------------------------------------------------------

const TARGETS: Readonly<Record<OutageScenario, string>> = {
  crashDefault: 'ratio <= 0.33',
  crashFast: 'ratio <= 0.8',
  switchover: 'hapair median <= 10 ms',
  failback: 'hapair <= 10 ms',
};

export function formatTable(r: FailoverResult): string {
  const n = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : '-');
  const lines: string[] = [];
  lines.push(`failover bench, ${r.runs} runs per system and scenario, client probe every 2 ms (${r.machine})`);
  lines.push(`${'scenario'.padEnd(13)}${'hapair med/max ms'.padStart(19)}${'keepalived med/max ms'.padStart(23)}${'ratio med/max'.padStart(15)}   target`);
  for (const s of OUTAGE_SCENARIOS) {
    const c = r.scenarios[s];
    lines.push(
      `${s.padEnd(13)}${`${n(c.hapair.medianMs)} / ${n(c.hapair.maxMs)}`.padStart(19)}${`${n(c.keepalived.medianMs)} / ${n(c.keepalived.maxMs)}`.padStart(23)}${`${c.ratio.median} / ${c.ratio.max}`.padStart(15)}   ${TARGETS[s]}`,
    );
  }
  const p = r.scenarios.partition;
  lines.push('partition (10 s between fw1 and fw2, witness reachable from both), median / max over the runs:');
  for (const sys of ['hapair', 'keepalived'] as const) {
    const x = p[sys];
    lines.push(
      `  ${sys.padEnd(11)} two hosts answering ${n(x.medianDualVipMs)} / ${n(x.dualVipMs)} ms (in ${x.runsWithDualVip} of ${x.samples.length} runs); after heal, longest client wait ${n(x.medianPostHealBlackholeMs)} / ${n(x.postHealBlackholeMs)} ms`,
    );
  }
  lines.push('  target: 0 ms of two hosts answering and no post-heal blackhole (with a witness)');
  const breakdowns: [string, BreakdownSummary][] = [
    [`crash, default profile (${r.profiles.default.hapair})`, r.crashBreakdown.default],
    [`crash, fast profile (${r.profiles.fast.hapair})`, r.crashBreakdown.fast],
    ['switchover (detection = from the old active handing over to the taker campaigning)', r.moveBreakdown.switchover],
    ['failback (detection = from the old active handing over to the taker campaigning)', r.moveBreakdown.failback],
  ];
  for (const [what, b] of breakdowns) {
    lines.push(`where hapair's time goes: ${what}; median of ${b.timedRuns} timed runs, ms:`);
    if (b.medianMs === null) {
      lines.push('  (no run could be timed from the logs)');
      continue;
    }
    const medians = b.medianMs;
    lines.push(`  ${PHASES.map((p) => `${p} ${n(medians[p])}`).join(', ')}`);
  }
  lines.push(...PHASES.map((p) => `  ${p}: ${PHASE_TEXT[p]}`));
  lines.push(`load average before ${r.load.before.join(' ')}, after ${r.load.after.join(' ')}; the client probe itself paused up to ${n(r.probeStallMaxMs)} ms; took ${Math.round(r.durationS)} s`);
  return lines.join('\n');
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
