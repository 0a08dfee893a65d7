/**
 * The client's view of the VIP: a UDP probe every few milliseconds, each
 * answer naming the host that sent it, and the measures the end-to-end tests
 * assert on (longest silence, interleaved answers). The analysis is pure so
 * it has its own unit test (probe.test.ts); the process side is in lab.ts.
 */

/** One probe datagram: when it left the client and who answered it (null: nobody). */
export interface ProbeRow {
  readonly seq: number;
  /** Unix ms, sub-millisecond precision (performance.timeOrigin + performance.now()). */
  readonly sentAt: number;
  readonly host: string | null;
  /** Every host that answered this datagram; more than one means two hosts answered for the VIP at once. */
  readonly hosts: readonly string[];
}

export interface Gap {
  /** Send time of the last answered probe before the silence (or the window start). */
  readonly from: number;
  /** Send time of the first answered probe after it (or the window end). */
  readonly to: number;
  readonly ms: number;
}

/** Rows whose send time is in [from, to). */
export function between(rows: readonly ProbeRow[], from: number, to = Infinity): ProbeRow[] {
  return rows.filter((r) => r.sentAt >= from && r.sentAt < to);
}

/**
 * The longest time the client waited for an answer: between the send times of
 * two consecutive answered probes. A window that starts or ends in silence
 * counts from its first / up to its last probe sent, so a blackhole at either
 * end is not hidden. Empty input: 0.
 */
export function longestGap(rows: readonly ProbeRow[]): Gap {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (first === undefined || last === undefined) return { from: 0, to: 0, ms: 0 };
  let best: Gap = { from: first.sentAt, to: first.sentAt, ms: 0 };
  let previous = first.sentAt;
  for (const r of rows) {
    if (r.host === null) continue;
    if (r.sentAt - previous > best.ms) best = { from: previous, to: r.sentAt, ms: r.sentAt - previous };
    previous = r.sentAt;
  }
  if (last.sentAt - previous > best.ms) best = { from: previous, to: last.sentAt, ms: last.sentAt - previous };
  return best;
}

/** The answering hosts in order, consecutive repeats collapsed: [fw1, fw2] for a clean failover. */
export function hostRuns(rows: readonly ProbeRow[]): { host: string; first: number; last: number; count: number }[] {
  const runs: { host: string; first: number; last: number; count: number }[] = [];
  for (const r of rows) {
    if (r.host === null) continue;
    const tail = runs[runs.length - 1];
    if (tail !== undefined && tail.host === r.host) {
      tail.last = r.sentAt;
      tail.count++;
    } else runs.push({ host: r.host, first: r.sentAt, last: r.sentAt, count: 1 });
  }
  return runs;
}

export interface Interleaving {
  readonly at: number;
  readonly detail: string;
}

/**
 * Evidence that two hosts answered for the VIP in the same window: one
 * datagram answered by two hosts, or answers going X, Y, X with the two X
 * answers less than `windowMs` apart (a handover that went back and forth,
 * as when both hosts hold the VIP and the client's neighbour entry flips).
 * A planned move back after a long stable stretch is not flagged. Null: none.
 */
export function interleaving(rows: readonly ProbeRow[], windowMs: number): Interleaving | null {
  for (const r of rows) {
    if (r.hosts.length > 1) return { at: r.sentAt, detail: `probe ${r.seq} answered by ${r.hosts.join(' and ')}` };
  }
  const runs = hostRuns(rows);
  for (let i = 1; i + 1 < runs.length; i++) {
    const before = runs[i - 1];
    const middle = runs[i];
    const after = runs[i + 1];
    if (before === undefined || middle === undefined || after === undefined) continue;
    if (before.host === after.host && after.first - before.last < windowMs) {
      return {
        at: middle.first,
        detail: `${before.host} answered until ${fmt(before.last)}, ${middle.host} ${middle.count}x from ${fmt(middle.first)}, ${after.host} again from ${fmt(after.first)} (${Math.round(after.first - before.last)} ms apart)`,
      };
    }
  }
  return null;
}

/** A one-line summary of a probe window for t.comment. */
export function describe(rows: readonly ProbeRow[], origin: number): string {
  const answered = rows.filter((r) => r.host !== null).length;
  const runs = hostRuns(rows).map((r) => `${r.host} ${Math.round(r.first - origin)}..${Math.round(r.last - origin)} ms (${r.count})`);
  const gap = longestGap(rows);
  return `${rows.length} probes, ${answered} answered; runs: ${runs.join(' | ') || 'none'}; longest gap ${Math.round(gap.ms)} ms at ${Math.round(gap.from - origin)} ms`;
}

function fmt(unixMs: number): string {
  return new Date(unixMs).toISOString().slice(11, 23);
}
