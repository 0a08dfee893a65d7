/**
 * The safety checkers, outside the production code (TigerBeetle's
 * state_checker idea). They see the cluster the way an omniscient observer
 * would: every node's durable disk, every applied entry, every role change.
 * Each check throws a SimViolation naming the property and the evidence.
 */
import type { NodeId } from '../../src/raft/types.js';
import type { Overwrite, SimDisk } from './disk.js';

export type ViolationKind =
  | 'two-leaders-in-term'
  | 'leader-without-quorum'
  | 'log-matching'
  | 'leader-append-only'
  | 'leader-completeness'
  | 'committed-entry-lost'
  | 'committed-disagreement'
  | 'state-machine-safety'
  | 'applied-regressed'
  | 'apply-order'
  | 'durable-regressed'
  | 'double-vote'
  | 'commit-beyond-log'
  | 'stale-read'
  | 'lease'
  | 'bad-message'
  | 'bad-ready'
  | 'driver-mismatch'
  | 'core-assertion'
  | 'core-exception'
  /** Role schedules: two nodes answered for the VIPs at once. */
  | 'vip-overlap'
  /** Role schedules: a witness answered for the VIPs. */
  | 'witness-holds'
  /** Role schedules: a node answered under an epoch not granted to it. */
  | 'wrong-epoch'
  /** Role schedules: two nodes' states disagree on who holds an epoch. */
  | 'epoch-conflict'
  /** The role logic, the cluster state machine or the agent's helpers asserted or threw. */
  | 'role-assertion'
  | 'role-exception'
  /** The simulator itself threw: its bug, not the core's. */
  | 'harness-error'
  | 'liveness';

export class SimViolation extends Error {
  override name = 'SimViolation';
  constructor(
    readonly kind: ViolationKind,
    message: string,
  ) {
    super(`${kind}: ${message}`);
  }
}

export function violation(kind: ViolationKind, message: string): never {
  throw new SimViolation(kind, message);
}

const TERM_BITS = 0x10_0000;

/** Highest index known committed by observations made in one term, with its chain value. */
interface CommitPoint {
  readonly index: number;
  readonly chain: number;
}

export interface ReadTicket {
  readonly node: NodeId;
  /** Highest index applied anywhere when the read was issued: a linearizable read must not return less. */
  readonly minIndex: number;
}

const MAX_READ_TICKETS = 512;

export class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** term -> voter -> candidate, as durably recorded: who could have counted whose vote. */
  private readonly votes = new Map<number, Map<NodeId, NodeId>>();
  /** (index, term) -> chain value of the prefix ending there, over all durable writes ever. */
  private readonly logMatch = new Map<number, number>();
  /** index -> chain value of the committed prefix ending there. */
  private readonly committed = new Map<number, number>();
  /** commit term (or an upper bound of it) -> highest commit point observed in that term. */
  private readonly commitPoints = new Map<number, CommitPoint>();
  private readonly reads = new Map<string, ReadTicket>();
  committedMax = 0;
  appliedMax = 0;
  maxLeaderTerm = 0;

  constructor(private readonly now: () => string) {}

  get electedTerms(): number {
    return this.leaders.size;
  }

  // --- roles -----------------------------------------------------------

  /**
   * Returns true when this is the first sight of the leader of `term`.
   * `voters` is the configuration the leader counted its votes in.
   */
  observeLeader(id: NodeId, term: number, voters: readonly { readonly id: NodeId }[], selfVote: NodeId | null): boolean {
    const known = this.leaders.get(term);
    if (known === undefined) {
      this.leaders.set(term, id);
      if (term > this.maxLeaderTerm) this.maxLeaderTerm = term;
      this.checkQuorumOfVotes(id, term, voters.map((v) => v.id), selfVote === id);
      return true;
    }
    if (known !== id) violation('two-leaders-in-term', `${known} and ${id} both leader in term ${term} at ${this.now()}`);
    return false;
  }

  /**
   * Votes from others count once durable (they are acknowledged only after
   * their batch lands); the leader's own may still be in its next Ready,
   * which is persisted before anything it sends as leader.
   */
  private checkQuorumOfVotes(id: NodeId, term: number, voters: readonly NodeId[], votedForSelf: boolean): void {
    const byVoter = this.votes.get(term);
    let granted = 0;
    for (const v of voters) if (byVoter?.get(v) === id || (v === id && votedForSelf)) granted++;
    const quorum = Math.floor(voters.length / 2) + 1;
    if (granted < quorum || !voters.includes(id)) {
      const who = voters.map((v) => `${v}:${byVoter?.get(v) ?? '-'}`).join(' ');
      violation('leader-without-quorum', `${id} leads term ${term} with ${granted} durable votes < ${quorum} (${who}) at ${this.now()}`);
    }
  }

  // --- durable state ---------------------------------------------------

  onHardState(id: NodeId, before: { term: number; vote: NodeId | null; commit: number }, after: { term: number; vote: NodeId | null; commit: number }): void {
    if (after.term < before.term) violation('durable-regressed', `${id} durable term ${before.term} -> ${after.term} at ${this.now()}`);
    if (after.term === before.term && before.vote !== null && after.vote !== before.vote) {
      violation('double-vote', `${id} changed its durable vote in term ${after.term}: ${before.vote} -> ${after.vote} at ${this.now()}`);
    }
    if (after.commit < before.commit) violation('durable-regressed', `${id} durable commit ${before.commit} -> ${after.commit} at ${this.now()}`);
    if (after.vote !== null) {
      let byVoter = this.votes.get(after.term);
      if (byVoter === undefined) {
        byVoter = new Map();
        this.votes.set(after.term, byVoter);
      }
      const earlier = byVoter.get(id);
      // Also across a crash that lost an unsynced write: a vote is never given twice in a term.
      if (earlier !== undefined && earlier !== after.vote) {
        violation('double-vote', `${id} voted for ${earlier} and then ${after.vote} in term ${after.term} at ${this.now()}`);
      }
      byVoter.set(id, after.vote);
    }
  }

  /** Log matching over every durable write ever: one (index, term) names one prefix. */
  onEntriesWritten(id: NodeId, disk: SimDisk, from: number): void {
    for (let i = Math.max(from, disk.snapshotIndex + 1); i <= disk.lastIndex; i++) {
      const e = disk.entryAt(i);
      if (e === undefined) break;
      this.registerPrefix(id, i, e.term, disk.chainAt(i) as number);
    }
  }

  registerPrefix(id: NodeId, index: number, term: number, chain: number): void {
    if (term >= TERM_BITS) violation('bad-ready', `term ${term} out of the simulator's range`);
    const key = index * TERM_BITS + term;
    const known = this.logMatch.get(key);
    if (known === undefined) this.logMatch.set(key, chain);
    else if (known !== chain) {
      violation('log-matching', `${id} holds entry ${index}/${term} after a prefix that differs from another log's with the same entry at ${this.now()}`);
    }
  }

  /** A node must never replace an entry it holds that is committed. */
  onOverwrite(id: NodeId, disk: SimDisk, overwrite: Overwrite, durableCommit: number): void {
    for (let k = 0; k < overwrite.oldChains.length; k++) {
      const index = overwrite.from + k;
      const old = overwrite.oldChains[k] as number;
      const now = disk.chainAt(index);
      if (now === old) continue;
      if (index <= durableCommit) {
        violation('committed-entry-lost', `${id} replaced entry ${index}, at or below its own durable commit ${durableCommit}, at ${this.now()}`);
      }
      if (this.committed.get(index) === old) {
        violation('committed-entry-lost', `${id} replaced committed entry ${index} at ${this.now()}`);
      }
    }
  }

  /**
   * A node made `commit` durable while in `term` (as leader or follower):
   * its log prefix up to commit is committed, and committed in `term` or
   * earlier (a follower's term bounds its leader's from above).
   */
  onCommitPersisted(id: NodeId, disk: SimDisk, commit: number, term: number): void {
    const effective = Math.max(commit, disk.snapshotIndex);
    if (effective > disk.lastIndex) {
      violation('commit-beyond-log', `${id} persisted commit ${commit} beyond its durable last index ${disk.lastIndex} at ${this.now()}`);
    }
    const chain = disk.chainAt(effective) as number;
    this.noteCommitted(id, effective, chain);
    const point = this.commitPoints.get(term);
    if (point === undefined || point.index < effective) this.commitPoints.set(term, { index: effective, chain });
  }

  private noteCommitted(id: NodeId, index: number, chain: number): void {
    const known = this.committed.get(index);
    if (known === undefined) this.committed.set(index, chain);
    else if (known !== chain) {
      violation('committed-disagreement', `${id} committed a prefix up to ${index} that differs from one committed before at ${this.now()}`);
    }
    if (index > this.committedMax) this.committedMax = index;
  }

  /** Every entry committed in an earlier term is in the leader's log (Raft 5.4, leader completeness). */
  checkLeaderCompleteness(id: NodeId, term: number, disk: SimDisk): void {
    let best: CommitPoint | null = null;
    for (const [t, p] of this.commitPoints) if (t < term && (best === null || p.index > best.index)) best = p;
    if (best === null || best.index <= disk.snapshotIndex) return;
    if (best.index > disk.lastIndex) {
      violation('leader-completeness', `${id} leads term ${term} with last index ${disk.lastIndex}, missing committed index ${best.index} at ${this.now()}`);
    }
    if (disk.chainAt(best.index) !== best.chain) {
      violation('leader-completeness', `${id} leads term ${term} with a log that differs from the committed prefix up to ${best.index} at ${this.now()}`);
    }
  }

  // --- state machines ------------------------------------------------

  /** State machine safety: one prefix per applied index, across all nodes and restarts. */
  onApplied(id: NodeId, index: number, chain: number): void {
    const known = this.committed.get(index);
    if (known === undefined) this.committed.set(index, chain);
    else if (known !== chain) {
      violation('state-machine-safety', `${id} applied at index ${index} a history that differs from another node's at ${this.now()}`);
    }
    if (index > this.committedMax) this.committedMax = index;
    if (index > this.appliedMax) this.appliedMax = index;
  }

  onSnapshot(id: NodeId, index: number, term: number, chain: number): void {
    this.registerPrefix(id, index, term, chain);
    this.onApplied(id, index, chain);
  }

  // --- reads ---------------------------------------------------------

  issueRead(ctx: string, node: NodeId): void {
    if (this.reads.size >= MAX_READ_TICKETS) {
      const oldest = this.reads.keys().next().value as string;
      this.reads.delete(oldest);
    }
    this.reads.set(ctx, { node, minIndex: this.appliedMax });
  }

  /** Returns whether the read was served (index >= 0). */
  onReadState(id: NodeId, ctx: string, index: number): boolean {
    const ticket = this.reads.get(ctx);
    if (ticket === undefined) return index >= 0;
    if (ticket.node !== id) violation('bad-ready', `${id} got read state for ${ctx} issued on ${ticket.node} at ${this.now()}`);
    if (index < 0) return false;
    if (index < ticket.minIndex) {
      violation('stale-read', `${id} confirmed read ${ctx} at index ${index}, below ${ticket.minIndex} applied before the read was issued, at ${this.now()}`);
    }
    return true;
  }

}

