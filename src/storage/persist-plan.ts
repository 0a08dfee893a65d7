/**
 * What a write does to the stored log, computed once for both storage
 * implementations so they cannot disagree: which stored entries go, which
 * are written, and the log bounds afterwards. Pure; violations of the
 * PersistBatch contract are programmer errors and assert.
 */
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import type { PersistBatch } from './raft-storage.js';

/** The stored log is exactly the entries snapshotIndex+1 .. lastIndex. */
export interface LogBounds {
  readonly snapshotIndex: number;
  readonly lastIndex: number;
}

export interface PersistPlan {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  /** Stored entries to delete: from..to inclusive (empty when from > to). */
  readonly deleteRanges: readonly { readonly from: number; readonly to: number }[];
  /** Entries to write (each replaces any stored entry at its index). */
  readonly entries: readonly Entry[];
  readonly bounds: LogBounds;
}

/**
 * `snapshotKeepsSuffix`: false for a snapshot from the leader, which
 * replaces the whole stored log (the core installs one only when its log
 * lacks the snapshot's last entry, so any stored entry after it conflicts);
 * true for a local compaction, which keeps the entries after it.
 */
export function planPersist(bounds: LogBounds, batch: PersistBatch, snapshotKeepsSuffix = false): PersistPlan {
  const deleteRanges: { from: number; to: number }[] = [];
  let { snapshotIndex, lastIndex } = bounds;

  if (batch.snapshot !== null) {
    const index = batch.snapshot.meta.index;
    assert(Number.isSafeInteger(index) && index >= snapshotIndex, `snapshot at ${index} is older than the stored one at ${snapshotIndex}`);
    if (snapshotKeepsSuffix) {
      deleteRanges.push({ from: snapshotIndex + 1, to: Math.min(index, lastIndex) });
      lastIndex = Math.max(lastIndex, index);
    } else {
      deleteRanges.push({ from: snapshotIndex + 1, to: lastIndex });
      lastIndex = index;
    }
    snapshotIndex = index;
  }

  const entries = batch.entries.filter((e) => e.index > snapshotIndex);
  checkRun(entries);
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first !== undefined && last !== undefined) {
    assert(first.index <= lastIndex + 1, `entries start at ${first.index}, leaving a gap after the stored last index ${lastIndex}`);
    if (last.index < lastIndex) deleteRanges.push({ from: last.index + 1, to: lastIndex });
    lastIndex = last.index;
  }

  return {
    hardState: batch.hardState,
    snapshot: batch.snapshot,
    deleteRanges: deleteRanges.filter((r) => r.from <= r.to),
    entries,
    bounds: { snapshotIndex, lastIndex },
  };
}

export function planLocalSnapshot(bounds: LogBounds, snapshot: Snapshot): PersistPlan {
  const index = snapshot.meta.index;
  assert(
    Number.isSafeInteger(index) && index >= bounds.snapshotIndex && index <= bounds.lastIndex,
    `local snapshot at ${index} is outside the stored log (${bounds.snapshotIndex}, ${bounds.lastIndex}]`,
  );
  return planPersist(bounds, { hardState: null, entries: [], snapshot }, true);
}

function checkRun(entries: readonly Entry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    assert(Number.isSafeInteger(e.index) && e.index >= 1, `entry index ${e.index} is not a positive safe integer`);
    assert(Number.isSafeInteger(e.term) && e.term >= 1, `entry ${e.index} has invalid term ${e.term}`);
    const prev = entries[i - 1];
    if (prev === undefined) continue;
    assert(e.index === prev.index + 1, `entries not contiguous: ${e.index} after ${prev.index}`);
    assert(e.term >= prev.term, `entry terms decrease: ${e.term} at ${e.index} after ${prev.term}`);
  }
}
