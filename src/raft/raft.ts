/**
 * The pure Raft core, in the style of etcd-io/raft: no timers, sockets, disk
 * or clock. Time enters as tick(), messages as step(), and everything the
 * driver must do comes out of ready() (persist, send, apply), acknowledged
 * by advance(). A role is a pair of functions (step, tick) swapped on each
 * transition; illegal transitions assert.
 *
 * Always on: PreVote (a partitioned node cannot inflate terms) and
 * CheckQuorum (a leader that has not heard from a quorum within
 * electionTicks steps down). Together with vote refusal while a leader is
 * live, they give the leader a lease: see docs/raft-timing.md.
 */
import { assert, unreachable } from '../util/assert.js';
import { RaftLog, entryBytes } from './log.js';
import {
  EMPTY_MEMBERSHIP,
  applyChange,
  bootstrapChanges,
  findMember,
  isEmptyMembership,
  isVoter,
  kindOf,
  memberIds,
  validateChange,
  voterIds,
  type LearnerLag,
} from './membership.js';
import { Progress, type ProgressState } from './progress.js';
import { jointHasQuorum, jointQuorumValue, jointVoteOutcome } from './quorum.js';
import { ReadOnlyQueue, type PendingRead } from './read-only.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import type {
  AppendRequest,
  AppendResponse,
  ElectionJitter,
  Entry,
  EntryPayload,
  FaultFlags,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  InitialState,
  LeaseTicks,
  MemberKind,
  Membership,
  MembershipChange,
  Message,
  NodeId,
  PreVoteRequest,
  ProposeForward,
  ProposalRefusal,
  ProposalResult,
  RaftConfig,
  RaftTimers,
  RaftLimits,
  RaftRole,
  ReadState,
  Ready,
  Snapshot,
  SnapshotChunk,
  SnapshotResponse,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types.js';
import { malformedReason, validateConfig, validateTimers } from './validate.js';

export { RaftConfigError } from './validate.js';

/** Committed entries handed out in one Ready; more follow in the next. */
const MAX_COMMITTED_PER_READY = 4096;
/** ReadIndex requests the leader holds while confirming leadership. */
const MAX_PENDING_READS = 1024;
/** Read results waiting for the next Ready. */
const MAX_READ_STATES = 4096;
/** Outgoing messages waiting for the next Ready; beyond it they are dropped (Raft tolerates loss). */
const MAX_PENDING_MESSAGES = 100_000;
const DEFAULT_MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024;
/** A witness waits this many election timeouts before campaigning, so a data node wins whenever it can. */
export const WITNESS_ELECTION_FACTOR = 3;
/** status().ticksSinceLeaderContact of a node that never heard from a leader. */
export const NEVER_HEARD_TICKS = Number.MAX_SAFE_INTEGER;

export interface PeerStatus {
  readonly id: NodeId;
  readonly learner: boolean;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly inflight: number;
  /** Ticks since it last answered; counted from the election until it first does (CheckQuorum's grace). */
  readonly ticksSinceHeard: number;
  /** Ticks since it last answered this leader; NEVER_HEARD_TICKS until it has in this term. */
  readonly ticksSinceAnswer: number;
  /** Bytes of the snapshot transfer acknowledged so far, or null when none is under way. */
  readonly snapshotOffset: number | null;
}

export interface RaftStatus {
  readonly id: NodeId;
  /** This node's kind in the membership, or null when it is not (yet) a member. */
  readonly kind: MemberKind | null;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: RaftRole;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** Membership as of snapshotIndex (what a snapshot taken there must record). */
  readonly snapshotMembership: Membership;
  /** The committed (effective) membership. */
  readonly membership: Membership;
  /** Index of the newest membership change the leader proposed; a new one waits until commit passes it. */
  readonly pendingMembershipIndex: number;
  /** Leader: index of its noop, the first entry of its term (every entry before it comes from earlier leaders); 0 otherwise. */
  readonly termStartIndex: number;
  /** Per-follower replication state by node id (not this node); empty unless leader. */
  readonly progress: Readonly<Record<NodeId, PeerStatus>>;
  /**
   * Leader only: ticks during which no other leader can exist (a quorum
   * acknowledged a heartbeat recently enough, and no transfer was started in
   * this term). 0 otherwise. See docs/raft-timing.md for the margin a
   * driver on a real clock must subtract.
   */
  readonly leaseRemainingTicks: number;
  /** Leader only: a TimeoutNow was sent in this term, so the lease stays 0 until the term ends. */
  readonly leaseVoid: boolean;
  /** Ticks since a leader was last heard from (0 on the leader); NEVER_HEARD_TICKS if never. */
  readonly ticksSinceLeaderContact: number;
  /** The timers in force (RaftConfig, then the last setTimers). */
  readonly timers: { readonly electionTicks: number; readonly heartbeatTicks: number; readonly voteRefusalTicks: number };
  readonly transferee: NodeId | null;
  /** This node's tick counter since start. */
  readonly tick: number;
  /** Messages dropped: wrong recipient, unknown sender, malformed, refused in lease, or outbox overflow. */
  readonly droppedMessages: number;
}

type LeaderMessage = AppendRequest | HeartbeatRequest | SnapshotChunk;

function isLeaderMessage(m: Message): m is LeaderMessage {
  return m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
}

export class Raft {
  private readonly id: NodeId;
  private electionTicks: number;
  private heartbeatTicks: number;
  /** Rule 3 window (docs/raft-timing.md): vote refusal after leader contact, a restart or a step-down. */
  private voteRefusalTicks: number;
  /** Per-voter lease counting (setTimers); null: every voter counts electionTicks. */
  private leaseTicks: LeaseTicks | null = null;
  private readonly random: () => number;
  private readonly limits: RaftLimits;
  private readonly faults: FaultFlags;
  private readonly anyFault: boolean;

  private term = 0;
  private vote: NodeId | null = null;
  private role: RaftRole = 'follower';
  private leader: NodeId | null = null;
  private readonly log: RaftLog;
  private membership: Membership;
  /** Membership as of the log's snapshot index. */
  private snapMembership: Membership;
  /**
   * Membership changes in the log beyond the commit index, each with the
   * membership it would make (cumulatively). Not in force, but every quorum
   * decision also needs a majority of each of them (membership.ts).
   */
  private pendingConfigs: { readonly index: number; readonly membership: Membership }[] = [];

  private now = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  /** null: etcd's jitter, [0, electionTicks). */
  private electionJitter: ElectionJitter | null;
  private ticksSinceLeaderContact = Number.POSITIVE_INFINITY;
  /** A restarted node may have acknowledged a leader just before it crashed: it refuses votes until its tick counter reaches voteRefusalTicks. */
  private restarted = false;

  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private pendingConfIndex = 0;
  /** Leader: index of its noop, the first entry of its term. */
  private termStartIndex = 0;
  private uncommittedBytes = 0;
  private transferee: NodeId | null = null;
  private transferElapsed = 0;
  private timeoutNowSentForTransfer = false;
  /** Once TimeoutNow went out in this term, voters may elect the target at once: no lease until the term ends. */
  private leaseVoid = false;
  /** A committed membership has listed this node (see isRemoved). */
  private listed = false;
  private readonly reads = new ReadOnlyQueue(MAX_PENDING_READS);
  private readonly snapshotReceiver: SnapshotReceiver;
  /** Proposals appended since the last broadcast: sent as one batch per follower at the next ready(). */
  private pendingBroadcast = false;
  /** Just elected: a heartbeat follows the first append at the next ready(). */
  private pendingElectionHeartbeat = false;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private pendingInstall: Snapshot | null = null;
  private prevSoft: SoftState = { role: 'follower', leader: null };
  private prevHard: HardState;
  private inFlightReady: Ready | null = null;
  private dropped = 0;

  private stepRole: (m: Message) => void;
  private tickRole: () => void;

  constructor(config: RaftConfig, initial: InitialState) {
    validateConfig(config);
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.voteRefusalTicks = config.voteRefusalTicks ?? config.electionTicks;
    this.electionJitter = config.electionJitter ?? null;
    this.random = config.random;
    this.limits = config.limits;
    this.faults = config.faults ?? {};
    this.anyFault = Object.values(this.faults).some((v) => v === true);
    this.snapshotReceiver = new SnapshotReceiver(this.limits.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES);

    const hs = initial.hardState;
    const fresh = initial.snapshot === null && initial.entries.length === 0 && hs.term === 0;
    this.log = new RaftLog(initial.snapshot, initial.entries, hs.commit);
    this.snapMembership = initial.snapshot?.meta.membership ?? EMPTY_MEMBERSHIP;
    this.membership = this.snapMembership;
    this.term = hs.term;
    this.vote = hs.vote;
    this.prevHard = hs;
    assert(this.term >= this.log.lastTerm(), `hard state term ${this.term} below the last log term ${this.log.lastTerm()}`);

    if (fresh && initial.bootstrap !== null) {
      this.bootstrap(initial.bootstrap);
    } else {
      this.membership = this.replayMembership(this.snapMembership, this.log.snapshotIndex, this.log.committed);
      if (!fresh) this.restarted = true;
    }
    this.listed = this.replay(this.snapMembership, this.log.snapshotIndex, this.log.committed).listed;
    this.recomputePendingConfigs();

    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
    this.becomeFollower(this.term, null);
  }

  // -------------------------------------------------------------------------
  // Public API

  tick(): void {
    this.now++;
    if (this.restarted && this.now >= this.voteRefusalTicks) this.restarted = false;
    this.tickRole();
  }

  /**
   * New timers for a running node (a committed change of the cluster's
   * timers). The election timeout is drawn again at the next reset; the
   * vote refusal and the lease use the new values at once. The driver must
   * keep every voter's leaseTicks at or below that voter's own
   * voteRefusalTicks (docs/raft-timing.md, "Changing the timers live").
   */
  setTimers(timers: RaftTimers): void {
    validateTimers(timers);
    const jitter = timers.electionJitter ?? null;
    const electionChanged =
      timers.electionTicks !== this.electionTicks ||
      jitter?.minTicks !== this.electionJitter?.minTicks ||
      jitter?.spanTicks !== this.electionJitter?.spanTicks;
    this.electionTicks = timers.electionTicks;
    this.electionJitter = jitter;
    this.heartbeatTicks = timers.heartbeatTicks;
    this.voteRefusalTicks = timers.voteRefusalTicks ?? timers.electionTicks;
    this.leaseTicks = timers.leaseTicks ?? null;
    if (electionChanged) this.randomizeElectionTimeout();
    // A transfer gets one election timeout; a shorter one may already be over.
    if (this.transferee !== null && this.transferElapsed >= this.electionTicks) this.abortTransfer();
  }

  step(m: Message): void {
    if (m === null || typeof m !== 'object' || m.to !== this.id || m.from === this.id) {
      this.dropped++;
      return;
    }
    if (malformedReason(m) !== null) {
      this.dropped++;
      return;
    }
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        const transfer = m.type === 'vote' && m.transfer;
        // A live leader exists (we heard from it within voteRefusalTicks): a
        // campaign now can only disrupt it, and the leader's lease relies
        // on this refusal. The term is not bumped either.
        if (!transfer && this.inLease()) {
          this.dropped++;
          return;
        }
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResponse' && m.granted)) {
        // PreVote runs at a future term without adopting it.
      } else {
        this.becomeFollower(m.term, isLeaderMessage(m) ? m.from : null);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    if (m.type === 'preVote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    this.stepRole(m);
  }

  propose(data: Uint8Array): ProposalResult {
    const refusal = this.refuseProposal(data.byteLength);
    if (refusal !== null) return { ok: false, refusal };
    const e = this.appendEntry({ type: 'command', data });
    return { ok: true, index: e.index, term: e.term };
  }

  proposeMembership(change: MembershipChange): ProposalResult {
    const refusal = this.refuseProposal(64);
    if (refusal !== null) return { ok: false, refusal };
    if (this.pendingConfIndex > this.log.committed) return { ok: false, refusal: { code: 'MEMBERSHIP_CHANGE_PENDING' } };
    const reason = validateChange(this.membership, change, (id) => this.learnerLag(id));
    if (reason !== null) return { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason } };
    const e = this.appendEntry({ type: 'membership', change });
    this.pendingConfIndex = e.index;
    return { ok: true, index: e.index, term: e.term };
  }

  /**
   * Fire and forget (etcd's MsgProp): the leader appends `data` as it would
   * a proposal; a follower hands it to the leader it knows; otherwise it is
   * dropped. The caller re-sends until it sees the effect.
   */
  forward(data: Uint8Array): void {
    if (this.role === 'leader') {
      if (this.propose(data).ok === false) this.dropped++;
      return;
    }
    if (this.role === 'follower' && this.leader !== null) {
      this.send({ type: 'propose', from: this.id, to: this.leader, term: this.term, data });
      return;
    }
    this.dropped++;
  }

  transferLeadership(to: NodeId): ProposalResult {
    if (this.role !== 'leader') return { ok: false, refusal: { code: 'NOT_LEADER', leader: this.leader } };
    const current: ProposalResult = { ok: true, index: this.log.lastIndex(), term: this.term };
    if (to === this.id) return current;
    if (this.transferee !== null) {
      return this.transferee === to ? current : { ok: false, refusal: { code: 'TRANSFER_IN_PROGRESS' } };
    }
    const member = findMember(this.membership, to);
    if (member === undefined || !isVoter(this.membership, to)) {
      return { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: `transfer target ${to} is not a voter` } };
    }
    if (member.kind === 'witness') {
      return { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: `transfer target ${to} is a witness; a witness does not take leadership` } };
    }
    this.startTransfer(to);
    return current;
  }

  readIndex(ctx: string): void {
    switch (this.role) {
      case 'leader':
        this.handleReadRequest(ctx, this.id);
        return;
      case 'follower':
        if (this.leader !== null) {
          this.send({ type: 'readIndex', from: this.id, to: this.leader, term: this.term, ctx });
          return;
        }
        this.pushReadState(ctx, -1);
        return;
      case 'pre-candidate':
      case 'candidate':
        this.pushReadState(ctx, -1);
        return;
      default:
        unreachable(this.role);
    }
  }

  campaign(): void {
    if (this.role === 'leader') return;
    this.hup(false);
  }

  /**
   * The leader stands again at once in the next term, as a leadership
   * transfer to itself: voters grant the vote inside their lease
   * (Vote.transfer), since the leader that lease protects is the one asking.
   * For a leader whose lease is void for the rest of its term (a transfer
   * it started did not happen) and that has no node to hand leadership to:
   * elected again, it has a lease again. A late TimeoutNow of the old term
   * can elect its target in the next term only instead of this node.
   */
  reelect(): void {
    // As with TimeoutNow, never a witness: it leads only as a bridge.
    if (this.role !== 'leader' || this.kind() !== 'data' || !this.promotable()) return;
    this.becomeFollower(this.term, null);
    this.hup(true);
  }

  /** Cheap: whether this node leads (status() builds a whole picture). */
  isLeader(): boolean {
    return this.role === 'leader';
  }

  /** Cheap: the leader this node knows of, and its term (status() builds a whole picture). */
  leaderAndTerm(): { readonly leader: NodeId | null; readonly term: number } {
    return { leader: this.leader, term: this.term };
  }

  /**
   * Cheap: a committed membership listed this node (voter or learner) and
   * the committed membership now does not: it was removed. A node joining
   * is not, even on a snapshot taken before it was added.
   */
  isRemoved(): boolean {
    return this.listed && this.kind() === null;
  }

  hasReady(): boolean {
    if (this.inFlightReady !== null) return false;
    return (
      this.pendingBroadcast ||
      this.pendingElectionHeartbeat ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingInstall !== null ||
      this.log.hasUnstable() ||
      this.log.hasNextCommitted() ||
      this.softChanged() ||
      this.hardChanged()
    );
  }

  ready(): Ready {
    assert(this.inFlightReady === null, 'ready() called again before advance()');
    this.flushBroadcast();
    const hs = this.hardState();
    const hardState = this.hardChanged() ? hs : null;
    const softState = this.softChanged() ? { role: this.role, leader: this.leader } : null;
    const entries = this.log.unstableEntries();
    const snapshot = this.pendingInstall;
    const committed = this.log.nextCommitted(MAX_COMMITTED_PER_READY);
    const messages = this.msgs;
    const readStates = this.readStates;
    this.msgs = [];
    this.readStates = [];
    this.log.onReadyTaken();
    // A commit index alone needs no fsync (it can be learned again); a
    // vote, a term, entries or a snapshot must be durable before we speak.
    const mustSync =
      entries.length > 0 || snapshot !== null || (hardState !== null && (hardState.term !== this.prevHard.term || hardState.vote !== this.prevHard.vote));
    const ready: Ready = { softState, hardState, entries, snapshot, messages, committed, readStates, mustSync };
    this.inFlightReady = ready;
    return ready;
  }

  advance(ready: Ready): void {
    assert(this.inFlightReady === ready, 'advance() must be given the Ready from the last ready()');
    this.inFlightReady = null;
    if (ready.softState !== null) this.prevSoft = ready.softState;
    if (ready.hardState !== null) this.prevHard = ready.hardState;
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index);
    if (ready.snapshot !== null && this.pendingInstall === ready.snapshot) this.pendingInstall = null;
    const lastCommitted = ready.committed[ready.committed.length - 1];
    if (lastCommitted !== undefined) this.log.appliedTo(lastCommitted.index);
    const h = ready.hardState;
    if (this.role === 'candidate' && h !== null && h.term === this.term && h.vote === this.id && !this.votes.has(this.id)) {
      // Our vote for ourselves is durable now.
      this.votes.set(this.id, true);
      this.tallyVotes();
    }
  }

  compact(index: number, data: Uint8Array): void {
    assert(Number.isSafeInteger(index), `compact index ${index} not an integer`);
    assert(index <= this.log.applied, `compact at ${index} beyond applied ${this.log.applied}`);
    if (index <= this.log.snapshotIndex) return;
    const term = this.log.term(index);
    assert(term !== undefined, `compact at ${index}: no entry`);
    const membership = this.replayMembership(this.snapMembership, this.log.snapshotIndex, index);
    this.log.compact({ meta: { index, term, membership }, data });
    this.snapMembership = membership;
  }

  status(): RaftStatus {
    const progress: Record<NodeId, PeerStatus> = {};
    if (this.role === 'leader') {
      for (const pr of this.progress.values()) {
        if (pr.id === this.id) continue;
        progress[pr.id] = {
          id: pr.id,
          learner: pr.learner,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflights.count,
          ticksSinceHeard: this.now - pr.lastHeardTick,
          ticksSinceAnswer: pr.answered ? this.now - pr.lastHeardTick : NEVER_HEARD_TICKS,
          snapshotOffset: pr.transfer?.offset ?? null,
        };
      }
    }
    return {
      id: this.id,
      kind: kindOf(this.membership, this.id),
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      snapshotIndex: this.log.snapshotIndex,
      snapshotTerm: this.log.snapshotTerm,
      snapshotMembership: this.snapMembership,
      membership: this.membership,
      pendingMembershipIndex: this.pendingConfIndex,
      termStartIndex: this.role === 'leader' ? this.termStartIndex : 0,
      progress,
      leaseRemainingTicks: this.leaseRemainingTicks(),
      leaseVoid: this.role === 'leader' && this.leaseVoid,
      ticksSinceLeaderContact: Math.min(this.ticksSinceLeaderContact, NEVER_HEARD_TICKS),
      timers: { electionTicks: this.electionTicks, heartbeatTicks: this.heartbeatTicks, voteRefusalTicks: this.voteRefusalTicks },
      transferee: this.transferee,
      tick: this.now,
      droppedMessages: this.dropped,
    };
  }

  checkInvariants(): void {
    this.log.checkInvariants();
    const last = this.log.lastIndex();
    assert(this.term >= this.log.lastTerm(), `term ${this.term} below the last log term ${this.log.lastTerm()}`);
    assert(this.log.committed >= this.prevHard.commit || this.prevHard.commit > last, `commit ${this.log.committed} below the persisted commit ${this.prevHard.commit}`);
    const ids = memberIds(this.membership);
    assert(new Set(ids).size === ids.length, `membership lists a node twice: ${ids.join(',')}`);
    assert(this.pendingConfIndex <= last, `pending membership index ${this.pendingConfIndex} beyond the last index ${last}`);
    assert(this.uncommittedBytes >= 0, 'negative uncommitted bytes');
    assert(this.msgs.length <= MAX_PENDING_MESSAGES && this.readStates.length <= MAX_READ_STATES, 'outbox beyond its bound');
    switch (this.role) {
      case 'leader': {
        assert(this.leader === this.id, `leader ${this.id} names ${this.leader} as leader`);
        assert(this.vote === this.id, `leader ${this.id} voted for ${this.vote}`);
        const self = this.progress.get(this.id);
        assert(self !== undefined && self.match === last, `leader's own progress ${self?.match} is not its last index ${last}`);
        for (const pr of this.progress.values()) pr.checkInvariants(last, this.limits.maxInflightAppends);
        for (const id of ids) assert(this.progress.has(id), `leader has no progress for member ${id}`);
        if (this.transferee !== null) assert(this.transferElapsed < this.electionTicks, 'transfer outlived its timeout');
        break;
      }
      case 'candidate':
        assert(this.vote === this.id, `candidate ${this.id} voted for ${this.vote}`);
        assert(this.leader === null, 'candidate with a leader');
        break;
      case 'pre-candidate':
        assert(this.leader === null, 'pre-candidate with a leader');
        break;
      case 'follower':
        assert(this.leader !== this.id, 'follower names itself leader');
        break;
      default:
        unreachable(this.role);
    }
    if (this.role !== 'leader') {
      assert(this.progress.size === 0, 'progress kept outside the leader role');
      assert(this.transferee === null && this.reads.size === 0, 'leader state kept outside the leader role');
    }
  }

  // -------------------------------------------------------------------------
  // Role transitions

  private becomeFollower(term: number, leader: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
    // A former leader treats itself as having just heard from a leader: it
    // refuses to help elect a successor for voteRefusalTicks, as its followers do.
    if (wasLeader) this.ticksSinceLeaderContact = 0;
    if (leader !== null) this.onLeaderContact(leader);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition leader -> pre-candidate');
    // PreVote changes neither the term nor the vote.
    this.leader = null;
    this.votes.clear();
    this.role = 'pre-candidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', `invalid transition ${this.role} -> leader`);
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.ticksSinceLeaderContact = 0;
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    const last = this.log.lastIndex();
    for (const id of this.trackedIds()) this.addProgress(id, !isVoter(this.membership, id), last + 1);
    if (!this.progress.has(this.id)) this.addProgress(this.id, true, last + 1);
    const self = this.progress.get(this.id) as Progress;
    self.maybeUpdate(last);
    self.becomeReplicate(this.now);
    this.appendEntry({ type: 'noop' });
    this.termStartIndex = this.log.lastIndex();
    // No membership change until our noop, and so every earlier entry, commits.
    this.pendingConfIndex = this.log.lastIndex();
    // The noop and a heartbeat go out at the next ready(): what the driver
    // proposes on hearing of the election (RaftNode's onElected) travels in
    // the same append, not one round later (a new leader probes each
    // follower with one append at a time until it answers).
    this.pendingElectionHeartbeat = true;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.leaveLeader();
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.votes.clear();
    this.randomizeElectionTimeout();
  }

  /** Drops what only a leader keeps; local reads still waiting are answered with -1. */
  private leaveLeader(): void {
    for (const read of this.reads.drain()) this.answerRead(read.from, read.ctx, -1);
    this.progress.clear();
    this.transferee = null;
    this.transferElapsed = 0;
    this.timeoutNowSentForTransfer = false;
    this.leaseVoid = false;
    this.uncommittedBytes = 0;
    this.pendingBroadcast = false;
    this.pendingElectionHeartbeat = false;
    this.pendingConfIndex = 0;
  }

  private randomizeElectionTimeout(): void {
    const base = this.kind() === 'witness' ? WITNESS_ELECTION_FACTOR * this.electionTicks : this.electionTicks;
    const { minTicks, spanTicks } = this.electionJitter ?? { minTicks: 0, spanTicks: this.electionTicks };
    const jitter = minTicks + Math.min(spanTicks - 1, Math.max(0, Math.floor(this.random() * spanTicks)));
    this.randomizedElectionTicks = base + jitter;
  }

  // -------------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    this.ticksSinceLeaderContact++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    if (!this.quorumActive()) {
      this.becomeFollower(this.term, null);
      return;
    }
    if (this.transferee !== null && ++this.transferElapsed >= this.electionTicks) this.abortTransfer();
    for (const pr of this.progress.values()) {
      const t = pr.transfer;
      // A lost chunk or response must not stall the transfer forever.
      if (t !== null && t.inFlight && this.now - t.sentTick >= this.electionTicks) {
        t.inFlight = false;
        this.sendSnapshotChunk(pr);
      }
    }
    this.sendCommitNotices();
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(null);
    }
  }

  /**
   * A follower that has had no append since the commit index moved gets an
   * empty one carrying it: followers apply at most a tick late. One whose
   * pipeline is paused (a probe unanswered, the inflight window full) learns
   * it from the next heartbeat or when its pipeline moves again.
   */
  private sendCommitNotices(): void {
    for (const pr of this.progress.values()) {
      if (pr.id !== this.id && pr.state !== 'snapshot' && pr.sentCommit < this.log.committed) this.sendAppend(pr.id, true);
    }
  }

  /** CheckQuorum: a quorum of voters (counting ourselves) was heard from within electionTicks. */
  private quorumActive(): boolean {
    const active = new Set<NodeId>([this.id]);
    for (const pr of this.progress.values()) {
      if (this.now - pr.lastHeardTick < this.electionTicks) active.add(pr.id);
    }
    return jointHasQuorum(this.quorumSets(), active);
  }

  /** The voter sets every quorum decision must satisfy: the committed membership and each pending one. */
  private quorumSets(): NodeId[][] {
    return [voterIds(this.membership), ...this.pendingConfigs.map((p) => voterIds(p.membership))];
  }

  /** Members of the committed membership and of every pending one: whom a leader replicates to. */
  private trackedIds(): Set<NodeId> {
    const ids = new Set(memberIds(this.membership));
    for (const p of this.pendingConfigs) for (const id of memberIds(p.membership)) ids.add(id);
    return ids;
  }

  private isQuorumVoter(id: NodeId): boolean {
    return this.quorumSets().some((voters) => voters.includes(id));
  }

  private recomputePendingConfigs(): void {
    const out: { index: number; membership: Membership }[] = [];
    let m = this.membership;
    for (const e of this.log.range(this.log.committed, this.log.lastIndex())) {
      if (e.payload.type !== 'membership') continue;
      m = applyChange(m, e.payload.change);
      out.push({ index: e.index, membership: m });
    }
    this.pendingConfigs = out;
  }

  // -------------------------------------------------------------------------
  // Elections

  private kind(): MemberKind | null {
    return kindOf(this.membership, this.id);
  }

  /** Only a voter of the committed membership campaigns. */
  private promotable(): boolean {
    return isVoter(this.membership, this.id);
  }

  private inLease(): boolean {
    if (this.role === 'leader') return true;
    return this.ticksSinceLeaderContact < this.voteRefusalTicks || (this.restarted && this.now < this.voteRefusalTicks);
  }

  /** `votedBy`: the leader that handed over with its vote for our next term already on its disk. */
  private hup(transfer: boolean, votedBy: NodeId | null = null): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (transfer) {
      this.becomeCandidate();
      if (votedBy !== null && this.isQuorumVoter(votedBy)) this.votes.set(votedBy, true);
      // Asked even when the old leader's vote and ours will do: the answers
      // are the first word the new leader has from the other voters, and
      // the role layer calls a member it has not heard from unreachable.
      this.requestVotes('vote', true);
    } else {
      this.becomePreCandidate();
      this.requestVotes('preVote', false);
    }
  }

  private requestVotes(kind: 'preVote' | 'vote', transfer: boolean): void {
    // Our own PreVote obeys the same lease rule as anyone else's. Our own
    // vote counts once it is on disk (advance()), like anyone else's: the
    // requests can then go out while it is being written.
    if (kind === 'preVote' || this.faults.countOwnVoteBeforeWrite === true) {
      this.votes.set(this.id, kind === 'vote' || !this.inLease());
      if (this.tallyVotes()) return;
    }
    const term = kind === 'preVote' ? this.term + 1 : this.term;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    const voters = new Set(this.quorumSets().flat());
    for (const to of voters) {
      if (to === this.id) continue;
      if (kind === 'preVote') {
        this.send({ type: 'preVote', from: this.id, to, term, lastLogIndex, lastLogTerm });
      } else {
        this.send({ type: 'vote', from: this.id, to, term, lastLogIndex, lastLogTerm, transfer });
      }
    }
  }

  /** Acts on the votes so far; true when the round is decided. */
  private tallyVotes(): boolean {
    switch (jointVoteOutcome(this.quorumSets(), this.votes)) {
      case 'won':
        if (this.role === 'pre-candidate') {
          this.becomeCandidate();
          this.requestVotes('vote', false);
        } else {
          this.becomeLeader();
        }
        return true;
      case 'lost':
        this.becomeFollower(this.term, null);
        return true;
      case 'pending':
        return false;
    }
  }

  private handleVoteRequest(m: PreVoteRequest | VoteRequest): void {
    const pre = m.type === 'preVote';
    const canVote = this.vote === m.from || (this.vote === null && this.leader === null) || (pre && m.term > this.term);
    const upToDate = this.faults.skipLogUpToDateCheck === true || this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const type = pre ? 'preVoteResponse' : 'voteResponse';
    if (canVote && upToDate) {
      // A PreVote grant answers at the term asked for, so the asker can tell it from a stale one.
      this.send({ type, from: this.id, to: m.from, term: pre ? m.term : this.term, granted: true });
      if (!pre) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({ type, from: this.id, to: m.from, term: this.term, granted: false });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === 'pre-candidate' ? 'preVoteResponse' : 'voteResponse';
    if (m.type !== expected) return;
    if (m.type === 'preVoteResponse' && m.granted && m.term !== this.term + 1) return;
    if (!this.isQuorumVoter(m.from) || this.votes.has(m.from)) return;
    this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  // -------------------------------------------------------------------------
  // Message handling by role

  /** A message from an older term. */
  private stepStale(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of an older term: our higher term (from a transfer or a
        // lost election) must reach it, or it would never step down for us.
        this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: false, index: 0, hintIndex: 0, hintTerm: 0 });
        return;
      case 'preVote':
        this.send({ type: 'preVoteResponse', from: this.id, to: m.from, term: this.term, granted: false });
        return;
      case 'voteResponse':
        // FAULT countStaleVotes: the real rule drops grants from an older term.
        if (this.faults.countStaleVotes === true && this.role === 'candidate') {
          if (this.isQuorumVoter(m.from) && !this.votes.has(m.from)) {
            this.votes.set(m.from, m.granted);
            this.tallyVotes();
          }
        }
        return;
      case 'vote':
      case 'preVoteResponse':
      case 'appendResponse':
      case 'heartbeatResponse':
      case 'snapshotResponse':
      case 'timeoutNow':
      case 'readIndex':
      case 'readIndexResponse':
        return;
      case 'propose':
        // Only a leader appends; the sender re-sends to whoever leads next.
        this.dropped++;
        return;
      default:
        unreachable(m);
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.onLeaderContact(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.onLeaderContact(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.onLeaderContact(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Only our leader hands over, and never to a witness.
        if (m.from === this.leader && this.kind() === 'data') this.hup(true, m.vote ? m.from : null);
        return;
      case 'readIndex':
        this.send({ type: 'readIndexResponse', from: this.id, to: m.from, term: this.term, ctx: m.ctx, index: -1 });
        return;
      case 'readIndexResponse':
        this.pushReadState(m.ctx, m.index);
        return;
      case 'preVote':
      case 'vote':
      case 'preVoteResponse':
      case 'voteResponse':
      case 'appendResponse':
      case 'heartbeatResponse':
      case 'snapshotResponse':
        return;
      case 'propose':
        // Only a leader appends; the sender re-sends to whoever leads next.
        this.dropped++;
        return;
      default:
        unreachable(m);
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader won this term.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResponse':
      case 'voteResponse':
        this.handleVoteResponse(m);
        return;
      case 'readIndex':
        this.send({ type: 'readIndexResponse', from: this.id, to: m.from, term: this.term, ctx: m.ctx, index: -1 });
        return;
      case 'readIndexResponse':
        this.pushReadState(m.ctx, m.index);
        return;
      case 'preVote':
      case 'vote':
      case 'appendResponse':
      case 'heartbeatResponse':
      case 'snapshotResponse':
      case 'timeoutNow':
        return;
      case 'propose':
        // Only a leader appends; the sender re-sends to whoever leads next.
        this.dropped++;
        return;
      default:
        unreachable(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResponse':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResponse':
        this.handleHeartbeatResponse(m);
        return;
      case 'snapshotResponse':
        this.handleSnapshotResponse(m);
        return;
      case 'readIndex':
        if (!this.progress.has(m.from)) {
          this.dropped++;
          return;
        }
        this.handleReadRequest(m.ctx, m.from);
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Another leader in our term: impossible unless a fault flag broke
        // the election rules; the simulator's checker reports it.
        this.dropped++;
        return;
      case 'preVote':
      case 'vote':
      case 'preVoteResponse':
      case 'voteResponse':
      case 'timeoutNow':
      case 'readIndexResponse':
        return;
      case 'propose':
        this.handleForward(m);
        return;
      default:
        unreachable(m);
    }
  }

  // -------------------------------------------------------------------------
  // Follower side of replication

  private onLeaderContact(leader: NodeId): void {
    this.leader = leader;
    this.electionElapsed = 0;
    this.ticksSinceLeaderContact = 0;
  }

  private handleAppend(m: AppendRequest): void {
    const respond = (success: boolean, index: number, hintIndex: number, hintTerm: number): void => {
      this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success, index, hintIndex, hintTerm });
    };
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit already matches the leader's log.
      respond(true, this.log.committed, 0, 0);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries, this.anyFault);
    if (lastNew !== null) {
      // Pending membership changes move only if membership entries arrived or a suffix holding one may have been replaced.
      const mayTruncatePending = this.pendingConfigs.some((p) => p.index > m.prevIndex);
      if (mayTruncatePending || m.entries.some((e) => e.payload.type === 'membership')) this.recomputePendingConfigs();
      this.commitTo(Math.min(m.commit, lastNew));
      respond(true, lastNew, 0, 0);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    respond(false, m.prevIndex, hint.index, hint.term);
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResponse', from: this.id, to: m.from, term: this.term, sentTick: m.sentTick, readCtx: m.readCtx });
  }

  private handleSnapshot(m: SnapshotChunk): void {
    const respond = (nextOffset: number, done: boolean): void => {
      this.send({ type: 'snapshotResponse', from: this.id, to: m.from, term: this.term, snapshotIndex: m.meta.index, nextOffset, done });
    };
    if (m.meta.index <= this.log.committed) {
      // We already hold (and agree on) everything it covers.
      if (this.snapshotReceiver.inProgressIndex === m.meta.index) this.snapshotReceiver.reset();
      respond(m.totalBytes, true);
      return;
    }
    const outcome = this.snapshotReceiver.accept(m);
    switch (outcome.kind) {
      case 'progress':
        respond(outcome.nextOffset, false);
        return;
      case 'restart':
        this.dropped++;
        respond(-1, false);
        return;
      case 'complete':
        this.installSnapshot({ meta: m.meta, data: outcome.data });
        respond(m.totalBytes, true);
        return;
      default:
        unreachable(outcome);
    }
  }

  private installSnapshot(snapshot: Snapshot): void {
    const meta = snapshot.meta;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // Our log already contains the snapshot's last entry: just learn the commit.
      this.commitTo(meta.index);
      return;
    }
    this.log.restore(snapshot);
    this.snapMembership = meta.membership;
    this.membership = meta.membership;
    if (this.kind() !== null) this.listed = true;
    this.pendingConfigs = [];
    this.pendingInstall = snapshot;
  }

  // -------------------------------------------------------------------------
  // Leader side of replication

  private addProgress(id: NodeId, learner: boolean, next: number): void {
    this.progress.set(id, new Progress(id, learner, next, this.limits.maxInflightAppends, this.now));
  }

  private peers(): NodeId[] {
    const out: NodeId[] = [];
    for (const id of this.progress.keys()) if (id !== this.id) out.push(id);
    return out;
  }

  private handleForward(m: ProposeForward): void {
    if (!this.progress.has(m.from) || this.propose(m.data).ok === false) this.dropped++;
  }

  private refuseProposal(bytes: number): ProposalRefusal | null {
    if (this.role !== 'leader') return { code: 'NOT_LEADER', leader: this.leader };
    // A witness leads only as a bridge: clients must go to a data node.
    if (this.kind() === 'witness') return { code: 'NOT_LEADER', leader: null };
    if (this.transferee !== null) return { code: 'TRANSFER_IN_PROGRESS' };
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.limits.maxUncommittedBytes) return { code: 'UNCOMMITTED_LIMIT' };
    return null;
  }

  private appendEntry(payload: EntryPayload): Entry {
    assert(this.role === 'leader', 'only a leader appends');
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, payload };
    this.log.append([e]);
    if (payload.type === 'membership') {
      const prev = this.pendingConfigs[this.pendingConfigs.length - 1]?.membership ?? this.membership;
      this.pendingConfigs.push({ index: e.index, membership: applyChange(prev, payload.change) });
    }
    (this.progress.get(this.id) as Progress).maybeUpdate(e.index);
    this.uncommittedBytes += entryBytes(e);
    this.pendingBroadcast = true;
    this.maybeCommit();
    return e;
  }

  private flushBroadcast(): void {
    if (this.pendingBroadcast) {
      this.pendingBroadcast = false;
      if (this.role === 'leader') this.bcastAppend();
    }
    if (this.pendingElectionHeartbeat) {
      this.pendingElectionHeartbeat = false;
      if (this.role === 'leader') this.bcastHeartbeat(null);
    }
  }

  private bcastAppend(): void {
    for (const id of this.peers()) {
      this.sendAppend(id, true);
      this.fillPipeline(id);
    }
  }

  private fillPipeline(id: NodeId): void {
    while (this.progress.has(id) && this.sendAppend(id, false)) {
      // Each round sends entries and advances next; bounded by the inflights ring.
    }
  }

  /** Sends what `to` needs next; true when entries went out (so calling again may send more). */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    assert(pr !== undefined, `no progress for ${to}`);
    if (pr.state === 'snapshot') {
      this.sendSnapshotChunk(pr);
      return false;
    }
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.startSnapshot(pr);
      return false;
    }
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, last, this.limits.maxEntriesPerAppend, this.limits.maxBytesPerAppend) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentCommit = this.log.committed;
    pr.onAppendSent(prevIndex + entries.length, entries.length, this.now);
    return entries.length > 0;
  }

  private startSnapshot(pr: Progress): void {
    const snapshot = this.log.snapshot;
    assert(snapshot !== null, `follower ${pr.id} needs entries below the log start but there is no snapshot`);
    pr.becomeSnapshot(snapshot, this.now);
    this.sendSnapshotChunk(pr);
  }

  private sendSnapshotChunk(pr: Progress): void {
    const t = pr.transfer;
    assert(t !== null, `no snapshot transfer for ${pr.id}`);
    if (t.inFlight) return;
    const data = t.snapshot.data;
    const end = Math.min(t.offset + this.limits.snapshotChunkBytes, data.byteLength);
    this.send({
      type: 'snapshot',
      from: this.id,
      to: pr.id,
      term: this.term,
      meta: t.snapshot.meta,
      offset: t.offset,
      chunk: data.subarray(t.offset, end),
      totalBytes: data.byteLength,
      done: end === data.byteLength,
    });
    t.inFlight = true;
    t.sentTick = this.now;
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) {
      this.dropped++;
      return;
    }
    pr.heard(this.now);
    if (!m.success) {
      if (pr.state === 'snapshot') return;
      const probeHint = m.hintIndex <= this.log.snapshotIndex ? m.hintIndex : this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, probeHint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        pr.lastAppendProgressTick = this.now;
        this.sendAppend(m.from, true);
      }
      return;
    }
    assert(this.anyFault || m.index <= this.log.lastIndex(), `${m.from} acknowledged ${m.index} beyond our last index ${this.log.lastIndex()}`);
    const index = Math.min(m.index, this.log.lastIndex());
    if (pr.state === 'snapshot') {
      // The follower caught up by other means (its commit reached the snapshot).
      const t = pr.transfer as NonNullable<Progress['transfer']>;
      if (index < t.snapshot.meta.index) return;
      pr.maybeUpdate(index);
      pr.becomeProbe();
    } else if (!pr.maybeUpdate(index)) {
      return;
    }
    pr.lastAppendProgressTick = this.now;
    if (pr.state === 'probe') pr.becomeReplicate(this.now);
    else pr.inflights.freeLE(index);
    // A newer commit index is not broadcast here: it rides on the next
    // append to each follower, or an empty one at the next tick
    // (sendCommitNotices). Under load that halves the leader's frames and
    // the followers' answers, and the leader answers its client without
    // first writing a commit-only frame to every follower.
    if (this.maybeCommit() && this.role !== 'leader') return;
    if (!this.progress.has(m.from)) return;
    this.fillPipeline(m.from);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    this.maybeBridgeHandover();
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) {
      this.dropped++;
      return;
    }
    pr.heard(this.now);
    pr.probeSent = false;
    if (!pr.learner && m.sentTick <= this.now) pr.ackedSentTick = Math.max(pr.ackedSentTick, m.sentTick);
    // A pipeline whose acknowledgements stopped lost messages: probe again.
    if (pr.state === 'replicate' && pr.inflights.count > 0 && this.now - pr.lastAppendProgressTick >= this.electionTicks) pr.becomeProbe();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.readCtx !== null) {
      const read = this.reads.ack(m.readCtx, m.from);
      if (read !== undefined && jointHasQuorum(this.quorumSets(), read.acks)) this.releaseReads(read);
    }
    this.maybeBridgeHandover();
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) {
      this.dropped++;
      return;
    }
    pr.heard(this.now);
    const t = pr.transfer;
    if (pr.state !== 'snapshot' || t === null || m.snapshotIndex !== t.snapshot.meta.index) return;
    if (m.done) {
      pr.maybeUpdate(t.snapshot.meta.index);
      pr.becomeProbe();
      if (this.maybeCommit()) {
        if (this.role !== 'leader') return;
        this.bcastAppend();
      }
      if (this.progress.has(m.from)) this.sendAppend(m.from, true);
      return;
    }
    t.inFlight = false;
    t.offset = m.nextOffset >= 0 && m.nextOffset <= t.snapshot.data.byteLength ? m.nextOffset : 0;
    this.sendSnapshotChunk(pr);
  }

  private bcastHeartbeat(readCtx: string | null): void {
    for (const id of this.peers()) {
      const pr = this.progress.get(id) as Progress;
      this.send({
        type: 'heartbeat',
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(this.log.committed, pr.match),
        sentTick: this.now,
        readCtx,
      });
    }
  }

  /** Raft 5.3/5.4.2: commit the quorum's match index, but only by counting an entry of our own term. */
  private maybeCommit(): boolean {
    const index = jointQuorumValue(this.quorumSets(), (id) => this.progress.get(id)?.match ?? 0);
    if (!Number.isFinite(index) || index <= this.log.committed) return false;
    // FAULT commitPreviousTermByCount: the real rule (Raft 5.4.2, figure 8)
    // never commits an older term's entry by counting its replicas.
    if (this.log.term(index) !== this.term && this.faults.commitPreviousTermByCount !== true) return false;
    this.commitTo(index);
    return true;
  }

  private commitTo(index: number): void {
    const old = this.log.committed;
    if (!this.log.commitTo(index)) return;
    let changed = false;
    for (const e of this.log.range(old, index)) {
      if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entryBytes(e));
      if (e.payload.type === 'membership') {
        this.membership = applyChange(this.membership, e.payload.change);
        if (this.kind() !== null) this.listed = true;
        changed = true;
      }
    }
    if (changed) {
      this.pendingConfigs = this.pendingConfigs.filter((p) => p.index > index);
      this.onMembershipChanged();
    }
  }

  private replayMembership(base: Membership, from: number, to: number): Membership {
    return this.replay(base, from, to).membership;
  }

  /** `base` with the membership changes in (from, to] applied, and whether it or any step between listed this node. */
  private replay(base: Membership, from: number, to: number): { membership: Membership; listed: boolean } {
    let m = base;
    let listed = kindOf(m, this.id) !== null;
    for (const e of this.log.range(from, to)) {
      if (e.payload.type !== 'membership') continue;
      m = applyChange(m, e.payload.change);
      listed ||= kindOf(m, this.id) !== null;
    }
    return { membership: m, listed };
  }

  private onMembershipChanged(): void {
    if (this.role !== 'leader') return;
    const last = this.log.lastIndex();
    const members = this.trackedIds();
    for (const id of members) {
      const learner = !isVoter(this.membership, id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        this.addProgress(id, learner, last + 1);
        if (id !== this.id) this.sendAppend(id, true);
      } else {
        pr.learner = learner;
      }
    }
    for (const [id, pr] of [...this.progress]) {
      if (id === this.id || members.has(id)) continue;
      // One last append carries the commit, so the removed node learns it is out and stops campaigning.
      if (pr.state !== 'snapshot' && pr.match > 0) {
        pr.probeSent = false;
        pr.inflights.reset();
        this.sendAppend(id, true);
      }
      this.progress.delete(id);
    }
    if (this.transferee !== null && !members.has(this.transferee)) this.abortTransfer();
    if (!isVoter(this.membership, this.id)) {
      this.stepDownAfterRemoval();
      return;
    }
    if (this.maybeCommit() && this.role === 'leader') this.bcastAppend();
  }

  /**
   * Our own removal committed. Tell the others the commit, hand over to an
   * up-to-date data voter if there is one (saves an election timeout), and
   * step down; as a non-member we never campaign again.
   */
  private stepDownAfterRemoval(): void {
    this.bcastAppend();
    const last = this.log.lastIndex();
    const heir = this.membership.voters.find((v) => v.kind === 'data' && this.progress.get(v.id)?.match === last);
    if (heir !== undefined) this.sendTimeoutNow(heir.id);
    this.becomeFollower(this.term, null);
  }

  private learnerLag(id: NodeId): LearnerLag | null {
    const pr = this.progress.get(id);
    if (pr === undefined) return null;
    return { match: pr.match, leaderLastIndex: this.log.lastIndex(), ticksSinceHeard: this.now - pr.lastHeardTick, electionTicks: this.electionTicks };
  }

  // -------------------------------------------------------------------------
  // Leadership transfer and the witness bridge

  private startTransfer(to: NodeId): void {
    this.transferee = to;
    this.transferElapsed = 0;
    this.timeoutNowSentForTransfer = false;
    const pr = this.progress.get(to) as Progress;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    if (this.transferee === to && this.timeoutNowSentForTransfer) return;
    this.timeoutNowSentForTransfer = true;
    // The target's voters will grant it at once (Vote.transfer): from now
    // on in this term our lease proves nothing.
    this.leaseVoid = true;
    // The target campaigns on the TimeoutNow that follows: it should know
    // everything committed, so it leads applying all of it (a planned
    // move's intent), not only once its own noop commits.
    const pr = this.progress.get(to);
    if (pr !== undefined && pr.sentCommit < this.log.committed) this.sendAppend(to, true);
    const term = this.term;
    // We vote for the target in the next term and step down: the vote is
    // written before the TimeoutNow leaves (the driver holds back messages
    // behind a new term or vote), and the target leads on its own vote's
    // write instead of a round of vote requests. The price: a target that
    // never campaigns is no longer waited for with us still leading; the
    // next election (an election timeout on) settles it.
    // Only once an entry of our term is committed: our commit index is then
    // at least the target's, so the target, learning it from the append
    // above, sees the committed membership we see and will campaign. A
    // leader that has committed nothing yet may know less than the target
    // (which may already know it is no voter): handing over with its vote
    // could then step down for nothing, over and over (a witness bridge
    // does so at once). A leader being removed is no voter of the new
    // configuration: its vote would count for nothing.
    const vote = this.isQuorumVoter(this.id) && this.log.committed >= this.termStartIndex;
    if (vote) {
      this.becomeFollower(term + 1, null);
      this.vote = to;
    }
    this.send({ type: 'timeoutNow', from: this.id, to, term, vote });
  }

  private abortTransfer(): void {
    this.transferee = null;
    this.transferElapsed = 0;
    this.timeoutNowSentForTransfer = false;
  }

  /** A witness leads only until a data voter holds everything it holds. */
  private maybeBridgeHandover(): void {
    if (this.role !== 'leader' || this.transferee !== null || this.kind() !== 'witness') return;
    const last = this.log.lastIndex();
    const heir = this.membership.voters.find((v) => v.kind === 'data' && v.id !== this.id && this.progress.get(v.id)?.match === last);
    if (heir !== undefined) this.startTransfer(heir.id);
  }

  // -------------------------------------------------------------------------
  // Lease and ReadIndex

  private leaseRemainingTicks(): number {
    if (this.role !== 'leader' || this.leaseVoid) return 0;
    // Each voter refuses votes for its window after the heartbeat it
    // acknowledged: the lease lasts until a quorum's windows have all ended.
    const until = jointQuorumValue(this.quorumSets(), (id) => {
      if (id === this.id) return this.now + this.leaseTicksOf(id);
      const acked = this.progress.get(id)?.ackedSentTick ?? Number.NEGATIVE_INFINITY;
      return acked + this.leaseTicksOf(id);
    });
    if (!Number.isFinite(until)) return 0;
    // One tick less than sentTick + window: a follower's tick counter may be
    // up to one tick out of phase with ours (docs/raft-timing.md).
    return Math.max(0, until - 1 - this.now);
  }

  private leaseTicksOf(id: NodeId): number {
    const lease = this.leaseTicks;
    if (lease === null) return this.electionTicks;
    if (id === this.id) return lease.self;
    return lease.peers[id] ?? lease.otherPeers;
  }

  private handleReadRequest(ctx: string, from: NodeId): void {
    // Until an entry of our term commits, our commit index may be behind
    // what an earlier leader committed (dissertation 6.4).
    if (this.log.term(this.log.committed) !== this.term || this.reads.full()) {
      this.answerRead(from, ctx, -1);
      return;
    }
    const read = this.reads.add(ctx, this.log.committed, from, this.id, this.term);
    if (jointHasQuorum(this.quorumSets(), read.acks)) {
      this.releaseReads(read);
      return;
    }
    this.bcastHeartbeat(read.key);
  }

  private releaseReads(read: PendingRead): void {
    for (const r of this.reads.releaseThrough(read)) this.answerRead(r.from, r.ctx, r.index);
  }

  private answerRead(from: NodeId, ctx: string, index: number): void {
    if (from === this.id) this.pushReadState(ctx, index);
    else this.send({ type: 'readIndexResponse', from: this.id, to: from, term: this.term, ctx, index });
  }

  private pushReadState(ctx: string, index: number): void {
    if (this.readStates.length >= MAX_READ_STATES) {
      this.dropped++;
      return;
    }
    this.readStates.push({ ctx, index });
  }

  // -------------------------------------------------------------------------
  // Plumbing

  private send(m: Message): void {
    if (this.msgs.length >= MAX_PENDING_MESSAGES) {
      this.dropped++;
      return;
    }
    this.msgs.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardChanged(): boolean {
    const p = this.prevHard;
    return p.term !== this.term || p.vote !== this.vote || p.commit !== this.log.committed;
  }

  private softChanged(): boolean {
    return this.prevSoft.role !== this.role || this.prevSoft.leader !== this.leader;
  }

  /** Writes the bootstrap membership into the log as committed term-1 entries, identical on every bootstrapped node. */
  private bootstrap(membership: Membership): void {
    assert(!isEmptyMembership(membership) && membership.voters.length > 0, 'bootstrap membership needs at least one voter');
    this.term = 1;
    const entries: Entry[] = bootstrapChanges(membership).map((change, i) => ({ index: i + 1, term: 1, payload: { type: 'membership', change } }));
    this.log.append(entries);
    this.commitTo(entries.length);
  }
}
