/**
 * A node's durable state in the simulator: what survives a crash. It is
 * written only by the harness's driver loop (after a whole Ready batch
 * "syncs") and by local compaction, with the write semantics of
 * src/storage's persist plan, and it is the only thing a restarted node gets
 * back. Each entry carries its chain hash so checkers can compare prefixes
 * across nodes in O(1).
 */
import type { Entry, HardState, InitialState, Membership, Snapshot } from '../../src/raft/types.js';
import { chainStep } from './hash.js';

export interface Overwrite {
  /** First index whose stored entry was replaced or dropped. */
  readonly from: number;
  /** Chain values the replaced entries had, from `from` on. */
  readonly oldChains: readonly number[];
}

export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  /** The hard state as of the last synced write: what a crash cannot take away. */
  syncedHardState: HardState = this.hardState;
  snapshot: Snapshot | null = null;
  /** Chain hash at the snapshot's index (0 without a snapshot). */
  snapshotChain = 0;
  /** Stored entries after the snapshot. */
  entries: Entry[] = [];
  chains: number[] = [];
  /** False until the first batch lands. */
  written = false;

  get snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  get lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  /** Chain value at `index`, or undefined when compacted away or beyond the log. */
  chainAt(index: number): number | undefined {
    const s = this.snapshotIndex;
    if (index === s) return this.snapshotChain;
    if (index < s || index > this.lastIndex) return undefined;
    return this.chains[index - s - 1];
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  isEmpty(): boolean {
    return this.snapshot === null && this.entries.length === 0;
  }

  /** Appends with the Ready contract: entries at or below the stored last index replace the stored suffix. */
  append(entries: readonly Entry[]): Overwrite | null {
    const s = this.snapshotIndex;
    // Entries the snapshot already covers are skipped, as the storage contract says.
    const fresh = (entries[0]?.index ?? 0) > s ? entries : entries.filter((e) => e.index > s);
    if (fresh.length === 0) return null;
    this.written = true;
    const first = (fresh[0] as Entry).index;
    let overwrite: Overwrite | null = null;
    if (first <= this.lastIndex) {
      const keep = first - s - 1;
      overwrite = { from: first, oldChains: this.chains.slice(keep) };
      this.entries.length = keep;
      this.chains.length = keep;
    }
    let prev = this.chainAt(first - 1) ?? 0;
    for (const e of fresh) {
      prev = chainStep(prev, e);
      this.entries.push(e);
      this.chains.push(prev);
    }
    return overwrite;
  }

  /**
   * Installs a leader's snapshot. It replaces the whole stored log (the
   * Ready contract): the core hands one out only when its log lacks the
   * snapshot's last entry. Returns the entries dropped after its index.
   */
  installSnapshot(snapshot: Snapshot, chain: number): Overwrite | null {
    this.written = true;
    const index = snapshot.meta.index;
    const dropped: number[] = [];
    for (let i = index + 1; i <= this.lastIndex; i++) dropped.push(this.chainAt(i) as number);
    this.snapshot = snapshot;
    this.snapshotChain = chain;
    this.entries = [];
    this.chains = [];
    return dropped.length === 0 ? null : { from: index + 1, oldChains: dropped };
  }

  /** Local compaction: the application's snapshot at `index` replaces the log prefix. */
  compact(snapshot: Snapshot, chain: number): void {
    const index = snapshot.meta.index;
    const cut = index - this.snapshotIndex;
    this.snapshot = snapshot;
    this.snapshotChain = chain;
    this.entries = this.entries.slice(cut);
    this.chains = this.chains.slice(cut);
    this.written = true;
    this.sync();
  }

  saveHardState(hs: HardState): void {
    this.hardState = hs;
    this.written = true;
  }

  /** A synced batch makes everything written before it durable too. */
  sync(): void {
    this.syncedHardState = this.hardState;
  }

  /**
   * A crash may lose unsynced batches. Only hard states with nothing but a
   * new commit index are written unsynced (entries, snapshots, terms and
   * votes always sync), so losing them means going back to the synced one.
   */
  loseUnsynced(): boolean {
    if (this.hardState === this.syncedHardState) return false;
    this.hardState = this.syncedHardState;
    return true;
  }

  /** What src/storage's load() returns: every stored entry, and the bootstrap only for an empty log. */
  initialState(bootstrap: Membership | null): InitialState {
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      entries: this.entries.slice(),
      bootstrap: this.isEmpty() ? bootstrap : null,
    };
  }
}
