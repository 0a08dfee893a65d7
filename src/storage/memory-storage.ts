/**
 * RaftStorage in memory, with the same write semantics as LevelDbStorage
 * (both go through persist-plan). Every write counts as durable, synced or
 * not. `durableCopy()` is what a restarted node would find after a crash;
 * `failWrites()` makes writes fail, to exercise the driver's error path.
 */
import type { Entry, HardState, InitialState, Membership, Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { StorageWriteError } from './errors.js';
import { planLocalSnapshot, planPersist, type LogBounds, type PersistPlan } from './persist-plan.js';
import type { PersistBatch, RaftStorage } from './raft-storage.js';

interface MemoryState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Keyed by index; exactly bounds.snapshotIndex+1 .. bounds.lastIndex. */
  entries: Map<number, Entry>;
  bounds: LogBounds;
}

export class MemoryStorage implements RaftStorage {
  /** Shown in error messages where LevelDbStorage shows its directory. */
  readonly path: string;
  private state: MemoryState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: new Map(), bounds: { snapshotIndex: 0, lastIndex: 0 } };
  private loaded = false;
  private closed = false;
  private failure: Error | null = null;

  constructor(name = 'memory') {
    this.path = `memory:${name}`;
  }

  /**
   * A fresh, unloaded store holding what this one holds now, as a process
   * restarting after a crash would find it. Entries and snapshots are
   * immutable values, so they are shared, not copied.
   */
  durableCopy(): MemoryStorage {
    const copy = new MemoryStorage(this.path.slice('memory:'.length));
    copy.state = { ...this.state, entries: new Map(this.state.entries) };
    return copy;
  }

  /** From now on every write rejects with StorageWriteError caused by `cause` (null: writes work again). */
  failWrites(cause: Error | null): void {
    this.failure = cause;
  }

  async load(bootstrap: Membership | null): Promise<InitialState> {
    assert(!this.loaded, 'load() called twice');
    assert(!this.closed, 'load() after close()');
    this.loaded = true;
    const { hardState, snapshot, entries, bounds } = this.state;
    const list: Entry[] = [];
    for (let i = bounds.snapshotIndex + 1; i <= bounds.lastIndex; i++) {
      const entry = entries.get(i);
      assert(entry !== undefined, `memory store lost entry ${i}`);
      list.push(entry);
    }
    const empty = snapshot === null && list.length === 0;
    return { hardState, snapshot, entries: list, bootstrap: empty ? bootstrap : null };
  }

  async persist(batch: PersistBatch, _sync: boolean): Promise<void> {
    this.apply(planPersist(this.writableBounds(), batch));
  }

  async saveLocalSnapshot(snapshot: Snapshot): Promise<void> {
    this.apply(planLocalSnapshot(this.writableBounds(), snapshot));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private writableBounds(): LogBounds {
    assert(this.loaded, 'write before load()');
    assert(!this.closed, 'write after close()');
    if (this.failure !== null) throw new StorageWriteError(this.path, this.failure.message, { cause: this.failure });
    return this.state.bounds;
  }

  private apply(plan: PersistPlan): void {
    const entries = this.state.entries;
    for (const range of plan.deleteRanges) {
      for (let i = range.from; i <= range.to; i++) entries.delete(i);
    }
    for (const entry of plan.entries) entries.set(entry.index, entry);
    this.state = {
      hardState: plan.hardState ?? this.state.hardState,
      snapshot: plan.snapshot ?? this.state.snapshot,
      entries,
      bounds: plan.bounds,
    };
    assert(entries.size === plan.bounds.lastIndex - plan.bounds.snapshotIndex, 'memory store bounds and entries disagree');
  }
}
