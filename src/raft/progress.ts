/**
 * The leader's view of one follower (etcd's tracker.Progress): how much of
 * the log is known to match, what to send next, and in which of three modes.
 *
 * - probe: one append at a time until the follower's position is found
 *   (after a rejection, or when the leader starts);
 * - replicate: optimistic pipelining, bounded by the inflights ring;
 * - snapshot: the follower needs a snapshot; appends wait until it is in.
 */
import { assert } from '../util/assert.js';
import { Inflights } from './inflights.js';
import type { NodeId, Snapshot } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** One InstallSnapshot transfer: a single chunk in flight at a time. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  offset: number;
  inFlight: boolean;
  sentTick: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered, so wait. */
  probeSent = false;
  readonly inflights: Inflights;
  transfer: SnapshotTransfer | null = null;
  /** Leader tick of the last message from this peer; the election's tick until it answers (CheckQuorum's grace). */
  lastHeardTick: number;
  /** Whether this peer has answered the leader at all in this term. */
  answered = false;
  /** Highest HeartbeatRequest.sentTick this peer acknowledged in this term (lease). */
  ackedSentTick = Number.NEGATIVE_INFINITY;
  /** The commit index the last append to this peer carried: a newer one is worth an empty append. */
  sentCommit = 0;
  /** Tick of the last append acknowledgement, or of the moment the pipeline started; detects a stalled pipeline. */
  lastAppendProgressTick: number;

  constructor(
    readonly id: NodeId,
    public learner: boolean,
    next: number,
    maxInflight: number,
    nowTick: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.lastHeardTick = nowTick;
    this.lastAppendProgressTick = nowTick;
  }

  heard(nowTick: number): void {
    this.lastHeardTick = nowTick;
    this.answered = true;
  }

  becomeProbe(): void {
    const snapshotIndex = this.transfer?.snapshot.meta.index ?? 0;
    this.state = 'probe';
    this.transfer = null;
    this.probeSent = false;
    this.inflights.reset();
    // After a snapshot the follower holds at least the snapshot's index.
    this.next = Math.max(this.match + 1, snapshotIndex + 1);
  }

  becomeReplicate(nowTick: number): void {
    this.state = 'replicate';
    this.transfer = null;
    this.probeSent = false;
    this.inflights.reset();
    this.next = this.match + 1;
    this.lastAppendProgressTick = nowTick;
  }

  becomeSnapshot(snapshot: Snapshot, nowTick: number): void {
    this.state = 'snapshot';
    this.probeSent = false;
    this.inflights.reset();
    this.transfer = { snapshot, offset: 0, inFlight: false, sentTick: nowTick };
  }

  /** A successful append acknowledgement up to `index`; false if it tells nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append whose prevIndex was `rejected`. `probeHint`
   * is the largest index the follower might still match (from its hint).
   * Returns false for a stale rejection that must be ignored.
   */
  maybeDecrTo(rejected: number, probeHint: number): boolean {
    if (this.state === 'replicate') {
      // Only a rejection above the match is news; the caller switches to probe.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the one outstanding probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold further appends to this peer. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** An append carrying entries up to `lastIndex` (or none, when lastIndex < next) went out. */
  onAppendSent(lastIndex: number, entryCount: number, nowTick: number): void {
    switch (this.state) {
      case 'replicate':
        if (entryCount > 0) {
          if (this.inflights.count === 0) this.lastAppendProgressTick = nowTick;
          this.inflights.add(lastIndex);
          this.next = lastIndex + 1;
        }
        return;
      case 'probe':
        this.probeSent = true;
        return;
      case 'snapshot':
        assert(false, `append sent to ${this.id} in snapshot state`);
    }
  }

  checkInvariants(lastIndex: number, maxInflight: number): void {
    assert(this.match < this.next, `progress ${this.id}: match ${this.match} not below next ${this.next}`);
    assert(this.match <= lastIndex, `progress ${this.id}: match ${this.match} beyond the last index ${lastIndex}`);
    assert(this.next <= lastIndex + 1, `progress ${this.id}: next ${this.next} beyond ${lastIndex + 1}`);
    assert(this.inflights.count <= maxInflight, `progress ${this.id}: ${this.inflights.count} inflight > ${maxInflight}`);
    assert((this.state === 'snapshot') === (this.transfer !== null), `progress ${this.id}: snapshot transfer without snapshot state or vice versa`);
    if (this.state !== 'replicate') assert(this.inflights.count === 0, `progress ${this.id}: inflights outside replicate state`);
  }
}
