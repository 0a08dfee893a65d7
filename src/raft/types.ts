/**
 * The vocabulary of the Raft core: log entries, membership, messages, the
 * hard state that must be durable, and the Ready batch the core hands to its
 * driver. Everything here is plain data so it can be msgpackr-encoded for the
 * disk and the wire unchanged.
 */

export type NodeId = string;

/** A data node can hold the active role; a witness votes and stores the log only. */
export type MemberKind = 'data' | 'witness';

export interface Member {
  readonly id: NodeId;
  readonly kind: MemberKind;
  /** host:port of the node's peer listener; opaque to the core, used by the transport. */
  readonly peer: string;
}

/**
 * Who votes and who only replicates. Voters and learners are disjoint.
 * Changes go one member at a time and take effect when committed (etcd's
 * rule); a leader refuses a second change while one is uncommitted.
 */
export interface Membership {
  readonly voters: readonly Member[];
  readonly learners: readonly Member[];
}

export type MembershipChange =
  | { readonly op: 'addLearner'; readonly member: Member }
  | { readonly op: 'promote'; readonly id: NodeId }
  | { readonly op: 'remove'; readonly id: NodeId };

/** What an entry carries. `command` bytes are opaque to the core (the FSM decodes them). */
export type EntryPayload =
  | { readonly type: 'noop' }
  | { readonly type: 'command'; readonly data: Uint8Array }
  | { readonly type: 'membership'; readonly change: MembershipChange };

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly payload: EntryPayload;
}

/** Must be on disk before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The application state machine's serialised state at meta.index; opaque to the core. */
  readonly data: Uint8Array;
}

/** A confirmed linearizable read point: reads at `index` or later, once applied, are linearizable. */
export interface ReadState {
  readonly ctx: string;
  readonly index: number;
}

export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Changes only when the role or the known leader changes; not persisted. */
export interface SoftState {
  readonly role: RaftRole;
  readonly leader: NodeId | null;
}

// ---------------------------------------------------------------------------
// Messages. Every message names its sender, receiver and the sender's term
// (for PreVote: the term the sender would campaign for).

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface PreVoteRequest extends Envelope {
  readonly type: 'preVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

export interface VoteRequest extends Envelope {
  readonly type: 'vote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when campaigning after TimeoutNow: bypasses the receiver's leader-lease refusal. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'preVoteResponse' | 'voteResponse';
  readonly granted: boolean;
}

export interface AppendRequest extends Envelope {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends Envelope {
  readonly type: 'appendResponse';
  readonly success: boolean;
  /** On success: the highest index now known to match. On failure: the prevIndex that was rejected. */
  readonly index: number;
  /**
   * Back-off hints on failure (Raft paper 5.3, "quick back-off"): the
   * follower's term at `hintIndex` (the highest index <= the rejected
   * prevIndex whose term is <= the leader's prevTerm), so the leader can
   * skip a whole term of conflicting entries at once.
   */
  readonly hintIndex: number;
  readonly hintTerm: number;
}

export interface HeartbeatRequest extends Envelope {
  readonly type: 'heartbeat';
  /** min(leader commit, follower match): a follower never learns a commit beyond what it holds. */
  readonly commit: number;
  /** Leader tick counter when sent; echoed back so the leader can date its lease. */
  readonly sentTick: number;
  /** ReadIndex round being confirmed, if any. */
  readonly readCtx: string | null;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeatResponse';
  readonly sentTick: number;
  readonly readCtx: string | null;
}

export interface SnapshotChunk extends Envelope {
  readonly type: 'snapshot';
  readonly meta: SnapshotMeta;
  /** Byte offset of `chunk` within the snapshot data. */
  readonly offset: number;
  readonly chunk: Uint8Array;
  readonly totalBytes: number;
  readonly done: boolean;
}

export interface SnapshotResponse extends Envelope {
  readonly type: 'snapshotResponse';
  readonly snapshotIndex: number;
  /** Bytes received so far (next offset expected); -1 to make the leader restart the transfer. */
  readonly nextOffset: number;
  readonly done: boolean;
}

export interface TimeoutNow extends Envelope {
  readonly type: 'timeoutNow';
  /**
   * The sender voted for the target in term + 1, on disk before this left,
   * and stepped down: the target counts that vote without asking for it.
   * False from a leader that stays leader meanwhile (it has committed
   * nothing of its term yet, or hands over on its own removal and is no
   * voter any more), and from a node older than this field (read as false).
   */
  readonly vote: boolean;
}

/** A follower asking the leader to confirm a read point for it. */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'readIndex';
  readonly ctx: string;
}

export interface ReadIndexResponse extends Envelope {
  readonly type: 'readIndexResponse';
  readonly ctx: string;
  /** -1 when the leader could not serve it (not leader, no commit in its term yet). */
  readonly index: number;
}

/**
 * A follower handing a command to the leader it knows (etcd's MsgProp).
 * Fire and forget: the sender learns nothing back; it is for commands that
 * are re-sent until their effect shows (health reports, registrations).
 */
export interface ProposeForward extends Envelope {
  readonly type: 'propose';
  readonly data: Uint8Array;
}

export type Message =
  | PreVoteRequest
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse
  | ProposeForward;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------
// The ready/advance cycle.

/**
 * What the driver must do, in this order: persist (hardState, snapshot,
 * entries; one synced batch when `mustSync`), then send `messages`, then
 * install `snapshot` into the state machine if present, then apply
 * `committed` in order, then call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  /**
   * Entries to append to stable storage. If entries[0].index is at or
   * below the stored last index, the stored suffix from that index on is
   * replaced (a conflict was truncated).
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot received from the leader, to persist and install. It replaces
   * the WHOLE stored log: the core hands one out only when its log does not
   * hold the snapshot's last entry (meta.index, meta.term), so no stored
   * entry after meta.index can be consistent with it (when the log does hold
   * that entry the core just advances its commit instead, etcd's rule).
   * Entries in the same Ready follow the snapshot.
   */
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** True when hardState, entries or snapshot changed: the batch must be written with sync before sending. */
  readonly mustSync: boolean;
}

/** What the driver loads from storage to restart a node. */
export interface InitialState {
  readonly hardState: HardState;
  /** The latest snapshot, or null if the log starts at index 1. */
  readonly snapshot: Snapshot | null;
  /** Every stored entry after the snapshot, in order, without gaps. */
  readonly entries: readonly Entry[];
  /** Membership at the start of a brand new cluster (used only when there is no snapshot and no entries). */
  readonly bootstrap: Membership | null;
}

/**
 * Deliberately broken rules, switched on only by the simulator's
 * self-test to prove it catches each. Never set in production.
 */
export interface FaultFlags {
  /** Count vote grants carrying an older term as if they were current. */
  readonly countStaleVotes?: boolean;
  /** Commit an entry of a previous term by counting replicas (violates Raft 5.4.2). */
  readonly commitPreviousTermByCount?: boolean;
  /** Grant a vote without checking that the candidate's log is at least as up to date. */
  readonly skipLogUpToDateCheck?: boolean;
  /** Count a candidate's vote for itself before it is on disk (its requests leave before the write). */
  readonly countOwnVoteBeforeWrite?: boolean;
}

export interface RaftLimits {
  /** Entries in one append message. */
  readonly maxEntriesPerAppend: number;
  /** Payload bytes in one append message (at least one entry is always sent). */
  readonly maxBytesPerAppend: number;
  /** Append messages in flight to one follower before waiting for acknowledgements. */
  readonly maxInflightAppends: number;
  /** Proposals beyond this many uncommitted payload bytes are refused. */
  readonly maxUncommittedBytes: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytes: number;
  /** Largest snapshot a follower accepts (InstallSnapshot totalBytes); default 1 GiB. */
  readonly maxSnapshotBytes?: number;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Minimum election timeout in ticks; each timeout is electionTicks plus a draw from electionJitter. */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Default { minTicks: 0, spanTicks: electionTicks }: timeouts in [electionTicks, 2*electionTicks), as in etcd. */
  readonly electionJitter?: ElectionJitter;
  /**
   * How long this node refuses votes after hearing a leader, after a restart
   * and after stepping down (docs/raft-timing.md, rule 3). Default electionTicks.
   */
  readonly voteRefusalTicks?: number;
  /** Seeded source of [0, 1) numbers; the only randomness the core uses. */
  readonly random: () => number;
  readonly limits: RaftLimits;
  readonly faults?: FaultFlags;
}

/**
 * Timers a running core can be given (Raft.setTimers), so a committed
 * change of the cluster's timers takes effect without a restart. See
 * docs/raft-timing.md, "Changing the timers live", for what the driver must
 * guarantee about the lease ticks.
 */
export interface RaftTimers {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** See RaftConfig.electionJitter. */
  readonly electionJitter?: ElectionJitter;
  /** See RaftConfig.voteRefusalTicks. Default electionTicks. */
  readonly voteRefusalTicks?: number;
  /**
   * For how many ticks after acknowledging a heartbeat each voter is known
   * to refuse votes: the lease counts each acknowledgement that long. `self`
   * must not exceed this node's own voteRefusalTicks. Absent: every voter
   * counts electionTicks (all nodes run the same timers).
   */
  readonly leaseTicks?: LeaseTicks;
}

/**
 * The random part of an election timeout: [minTicks, minTicks + spanTicks)
 * ticks on top of electionTicks (a witness's base is larger, the jitter the
 * same). It only spreads candidates apart; safety never rests on it (the
 * lease rests on vote refusal, docs/raft-timing.md).
 */
export interface ElectionJitter {
  readonly minTicks: number;
  readonly spanTicks: number;
}

export interface LeaseTicks {
  readonly self: number;
  readonly peers: Readonly<Record<NodeId, number>>;
  /** Voters not named in `peers` (0: their acknowledgements do not extend the lease). */
  readonly otherPeers: number;
}

export const DEFAULT_LIMITS: RaftLimits = {
  maxEntriesPerAppend: 512,
  maxBytesPerAppend: 1024 * 1024,
  maxInflightAppends: 64,
  maxUncommittedBytes: 16 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
};

/** Operating errors the core reports to callers of propose/transfer/readIndex. */
export type ProposalRefusal =
  | { readonly code: 'NOT_LEADER'; readonly leader: NodeId | null }
  | { readonly code: 'TRANSFER_IN_PROGRESS' }
  | { readonly code: 'MEMBERSHIP_CHANGE_PENDING' }
  | { readonly code: 'UNCOMMITTED_LIMIT' }
  | { readonly code: 'INVALID_MEMBERSHIP_CHANGE'; readonly reason: string };

export type ProposalResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly refusal: ProposalRefusal };
