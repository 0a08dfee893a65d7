/**
 * The narrow seam between the driver loop and durable Raft state. The core
 * never touches storage: the driver loads an InitialState once at start and
 * then writes each Ready's durable part through `persist` before it sends
 * any message that depends on it (etcd's rule: persist, then send).
 *
 * Two implementations: LevelDbStorage (the real one) and MemoryStorage
 * (unit tests, simulator). Both follow exactly the contract below.
 */
import type { Entry, HardState, InitialState, Membership, Snapshot } from '../raft/types.js';

/** The durable part of one Ready. */
export interface PersistBatch {
  /** Replaces the stored hard state when non-null. */
  readonly hardState: HardState | null;
  /**
   * Appended after the snapshot (if any) is applied. Must be contiguous with
   * non-decreasing terms, and entries[0].index must be at most the stored
   * last index + 1 (no gap). If entries[0].index is at or below the stored
   * last index, the stored suffix from that index on is replaced: stored
   * entries beyond the new last index are deleted (a conflict truncation).
   * Entries at or below the snapshot index are already covered by it and are
   * skipped.
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot from the leader replaces the whole stored log: the core
   * installs one only when its log lacks the snapshot's last entry, so any
   * stored entry after it conflicts. Entries in the same batch come after
   * it. Its index must not be below the stored snapshot's.
   */
  readonly snapshot: Snapshot | null;
}

export interface RaftStorage {
  /**
   * Opens the stored state for a (re)start and validates it completely; a
   * store that fails validation throws StorageCorruptError naming the data
   * path and the problem and is never reset. `bootstrap` is returned in
   * InitialState.bootstrap only while the log is empty (no snapshot and no
   * entries, whatever the hard state): only then does the core need it.
   * Must be called exactly once, before any write.
   */
  load(bootstrap: Membership | null): Promise<InitialState>;
  /**
   * Writes the batch atomically: after a crash either all of it or none of
   * it is there. With `sync` it is on disk when the promise resolves; without
   * it a crash may lose this batch and later unsynced ones, but never leaves
   * a later batch without an earlier one. Calls must not overlap. A failure
   * rejects with StorageWriteError and makes the store refuse further writes
   * (after a failed fsync nothing can be promised about what is on disk).
   */
  persist(batch: PersistBatch, sync: boolean): Promise<void>;
  /**
   * The application compacted the log at snapshot.meta.index (at most the
   * last stored index): stores the snapshot and deletes entries up to its
   * index, in one synced atomic batch.
   */
  saveLocalSnapshot(snapshot: Snapshot): Promise<void>;
  /** Idempotent. The caller lets its last write settle first (writes after close are programmer errors). */
  close(): Promise<void>;
}
