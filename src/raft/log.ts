/**
 * The core's in-memory copy of the log since the last snapshot. The driver's
 * storage is asynchronous, so the core never reads it: every entry after the
 * snapshot point lives here, and `stableIndex` says how much of it the
 * driver has confirmed durable (through advance()).
 */
import { assert } from '../util/assert.js';
import type { Entry, Snapshot } from './types.js';

/** Bytes an entry counts for batching and the uncommitted limit. */
export function entryBytes(entry: Entry): number {
  switch (entry.payload.type) {
    case 'noop':
      return 0;
    case 'command':
      return entry.payload.data.byteLength;
    case 'membership':
      // A member record is an id, a kind and an address: small and bounded.
      return 64;
  }
}

export interface TermHint {
  readonly index: number;
  readonly term: number;
}

export class RaftLog {
  /** The latest snapshot (local compaction or installed from a leader), or null when the log starts at 1. */
  snapshot: Snapshot | null;
  private snapIndex: number;
  private snapTerm: number;
  /** entries[i].index === snapIndex + 1 + i */
  private entries: Entry[];
  committed: number;
  /** Highest index handed to the driver to apply and confirmed by advance(). */
  applied: number;
  /** Highest index whose entry the driver has persisted exactly as held here. */
  stableIndex: number;
  /** Lowest index overwritten or dropped since the last ready() (Infinity if none). */
  private changedSinceReady = Infinity;

  constructor(snapshot: Snapshot | null, entries: readonly Entry[], committed: number) {
    this.snapshot = snapshot;
    this.snapIndex = snapshot?.meta.index ?? 0;
    this.snapTerm = snapshot?.meta.term ?? 0;
    this.entries = [];
    let expected = this.snapIndex + 1;
    let prevTerm = this.snapTerm;
    for (const e of entries) {
      // Entries at or below the snapshot are covered by it. A stored suffix
      // that does not chain onto the snapshot (a gap, or a term below the
      // snapshot's) is what a conflicting log leaves behind after a snapshot
      // install: it can never be part of a log consistent with the snapshot.
      if (e.index < expected) continue;
      if (e.index !== expected || e.term < prevTerm) break;
      this.entries.push(e);
      prevTerm = e.term;
      expected++;
    }
    this.stableIndex = this.lastIndex();
    this.committed = Math.min(Math.max(committed, this.snapIndex), this.lastIndex());
    this.applied = this.snapIndex;
  }

  get snapshotIndex(): number {
    return this.snapIndex;
  }

  get snapshotTerm(): number {
    return this.snapTerm;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.entries[this.entries.length - 1];
    return last === undefined ? this.snapTerm : last.term;
  }

  /** The term at `index`, or undefined when it is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return (this.entries[index - this.snapIndex - 1] as Entry).term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapIndex) return undefined;
    return this.entries[index - this.snapIndex - 1];
  }

  /** Raft 5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries from `lo` to `hi` inclusive, at most `maxEntries` and `maxBytes`
   * payload bytes, but always at least one so a big entry cannot stall.
   */
  slice(lo: number, hi: number, maxEntries: number, maxBytes: number): Entry[] {
    assert(lo > this.snapIndex, `slice from ${lo} at or below the snapshot ${this.snapIndex}`);
    assert(hi <= this.lastIndex(), `slice to ${hi} beyond the last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi && out.length < maxEntries; i++) {
      const e = this.entries[i - this.snapIndex - 1] as Entry;
      const size = entryBytes(e);
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(e);
      bytes += size;
    }
    return out;
  }

  /** Entries in (from, to], all of them in memory (asserted). */
  range(from: number, to: number): Entry[] {
    if (to <= from) return [];
    assert(from >= this.snapIndex && to <= this.lastIndex(), `range (${from}, ${to}] outside (${this.snapIndex}, ${this.lastIndex()}]`);
    return this.entries.slice(from - this.snapIndex, to - this.snapIndex);
  }

  /** The leader's own append: entries continue the log exactly. */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, `append of ${e.index} after ${this.lastIndex()}`);
      assert(e.term >= this.lastTerm(), `append of term ${e.term} after term ${this.lastTerm()}`);
      this.entries.push(e);
    }
  }

  /**
   * The follower's side of AppendEntries (Raft 5.3). Returns the last index
   * the leader's message proves to match, or null when prevIndex/prevTerm
   * does not match. A conflicting suffix is dropped before appending.
   * `allowCommittedOverwrite` exists only for the fault-injection self-test:
   * without faults, overwriting a committed entry is a broken invariant.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[], allowCommittedOverwrite: boolean): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      assert(e.index === prevIndex + 1 + i, `append message entries not contiguous at ${e.index}`);
      if (e.index <= this.snapIndex) continue;
      if (this.matchTerm(e.index, e.term)) continue;
      assert(allowCommittedOverwrite || e.index > this.committed, `conflict at ${e.index} would overwrite committed entry (commit ${this.committed})`);
      this.truncateFrom(e.index);
      this.append(entries.slice(i));
      break;
    }
    return lastNew;
  }

  private truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    this.entries.length = index - this.snapIndex - 1;
    this.stableIndex = Math.min(this.stableIndex, index - 1);
    this.changedSinceReady = Math.min(this.changedSinceReady, index);
  }

  /**
   * For a rejected append: the largest index <= `index` whose term is <=
   * `term`, and that term. Entries at or below the snapshot are committed
   * and therefore agree with any leader, so the search stops there.
   */
  findConflictByTerm(index: number, term: number): TermHint {
    let i = Math.min(index, this.lastIndex());
    if (i <= this.snapIndex) return { index: this.snapIndex, term: this.snapTerm };
    for (; i > this.snapIndex; i--) {
      const t = this.term(i) as number;
      if (t <= term) return { index: i, term: t };
    }
    return { index: this.snapIndex, term: this.snapTerm };
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `commit ${index} beyond the last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Unpersisted entries the next Ready must carry. */
  unstableEntries(): Entry[] {
    return this.range(Math.max(this.stableIndex, this.snapIndex), this.lastIndex());
  }

  hasUnstable(): boolean {
    return this.stableIndex < this.lastIndex();
  }

  /** Committed entries not yet handed out, at most `max`. */
  nextCommitted(max: number): Entry[] {
    const from = Math.max(this.applied, this.snapIndex);
    return this.range(from, Math.min(this.committed, from + max));
  }

  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.snapIndex);
  }

  onReadyTaken(): void {
    this.changedSinceReady = Infinity;
  }

  /** The driver persisted a Ready whose entries ended at `index`. */
  stableTo(index: number): void {
    // Anything overwritten since that Ready was taken is not what was persisted.
    const confirmed = Math.min(index, this.changedSinceReady - 1, this.lastIndex());
    this.stableIndex = Math.max(this.stableIndex, confirmed);
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    this.applied = Math.max(this.applied, index);
  }

  /** The application's snapshot at `snapshot.meta.index` replaces the log up to it. */
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index > this.snapIndex, `compact at ${index} not after the snapshot ${this.snapIndex}`);
    assert(index <= this.applied, `compact at ${index} beyond applied ${this.applied}`);
    assert(this.term(index) === snapshot.meta.term, `compact at ${index}: term mismatch`);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = snapshot.meta.term;
    this.snapshot = snapshot;
    this.stableIndex = Math.max(this.stableIndex, index);
  }

  /**
   * A snapshot from the leader that our log does not contain: everything we
   * hold is replaced by it (etcd's rule; when the log does contain the
   * snapshot's last entry the caller fast-forwards the commit instead).
   */
  restore(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index > this.committed, `restore at ${index} not beyond commit ${this.committed}`);
    this.changedSinceReady = Math.min(this.changedSinceReady, this.snapIndex + 1);
    this.entries = [];
    this.snapIndex = index;
    this.snapTerm = snapshot.meta.term;
    this.snapshot = snapshot;
    this.committed = index;
    this.applied = index;
    this.stableIndex = index;
  }

  /** Consistency of the log itself; throws AssertionError. */
  checkInvariants(): void {
    let prevTerm = this.snapTerm;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      assert(e.index === this.snapIndex + 1 + i, `log not contiguous at position ${i}: index ${e.index}`);
      assert(e.term >= prevTerm, `log terms decrease at ${e.index}: ${e.term} after ${prevTerm}`);
      prevTerm = e.term;
    }
    assert(this.committed >= this.snapIndex, `commit ${this.committed} below the snapshot ${this.snapIndex}`);
    assert(this.committed <= this.lastIndex(), `commit ${this.committed} beyond the last index ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `applied ${this.applied} beyond commit ${this.committed}`);
    assert(this.stableIndex >= this.snapIndex && this.stableIndex <= this.lastIndex(), `stable index ${this.stableIndex} outside [${this.snapIndex}, ${this.lastIndex()}]`);
    if (this.snapshot !== null) {
      assert(this.snapshot.meta.index === this.snapIndex && this.snapshot.meta.term === this.snapTerm, 'snapshot meta differs from the log start');
    }
  }
}
