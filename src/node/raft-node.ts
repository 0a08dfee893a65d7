/**
 * The driver loop: the only place where the pure Raft core meets time,
 * disk and network. One loop, etcd-style: take Ready, persist it in one
 * batch (synced when the core says so), only then send, then apply, then
 * advance. Proposals resolve once their entry is applied here.
 */
import { performance } from 'node:perf_hooks';
import { Raft, type RaftStatus } from '../raft/raft.js';
import {
  DEFAULT_LIMITS,
  type Entry,
  type ElectionJitter,
  type HardState,
  type Membership,
  type MembershipChange,
  type Message,
  type NodeId,
  type ProposalRefusal,
  type ProposalResult,
  type RaftLimits,
  type RaftTimers,
  type Ready,
} from '../raft/types.js';
import type { RaftStorage } from '../storage/raft-storage.js';
import type { Transport } from '../transport/transport.js';
import { assert } from '../util/assert.js';

/** The application state machine the driver applies committed entries to. */
export interface StateMachine {
  /** Every committed entry (noop and membership too), in order; deterministic; returns what the proposer is told. */
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  /** Discards all previous state. */
  restore(data: Uint8Array): void;
  /**
   * True while the log must be kept from an entry this state machine could
   * not apply (written by a newer version): after an update, a restart
   * replays that entry instead of restoring a snapshot that lacks it.
   */
  holdsLog?(): boolean;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine;
  /** Membership for the very first start of a new cluster; ignored once the store has state. */
  readonly bootstrap: Membership | null;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** See RaftConfig.electionJitter (default etcd's). */
  readonly electionJitter?: ElectionJitter;
  /** See RaftConfig.voteRefusalTicks (a restarted node refuses votes this long). */
  readonly voteRefusalTicks?: number;
  /** Seeded in tests; a real node seeds from crypto. */
  readonly random: () => number;
  readonly limits?: RaftLimits;
  /** Take a snapshot and compact the log after this many applied entries. */
  readonly snapshotEveryEntries?: number;
  /** Proposals not applied within this time are rejected (their outcome is then unknown). */
  readonly proposalTimeoutMs?: number;
  readonly onApplied?: (entry: Entry, result: unknown) => void;
  readonly onSoftState?: (role: RaftStatus['role'], leader: NodeId | null) => void;
  /**
   * Called synchronously when this node has just been elected, before its
   * first Ready as leader is taken: what it proposes now is written in one
   * batch with its noop and sent with it.
   */
  readonly onElected?: () => void;
  readonly onError?: (error: Error) => void;
}

export class ProposalError extends Error {
  override name = 'ProposalError';
  constructor(
    readonly refusal: ProposalRefusal | { readonly code: 'TIMEOUT' } | { readonly code: 'SUPERSEDED' } | { readonly code: 'STOPPED' },
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  readonly term: number;
  readonly resolve: (result: AppliedResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface AppliedResult {
  readonly index: number;
  readonly term: number;
  readonly result: unknown;
}

interface ReadWaiter {
  readonly resolve: (index: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const MAX_PENDING_PROPOSALS = 100_000;
const MAX_PENDING_READS = 10_000;

export class RaftNode {
  readonly id: NodeId;
  private raft: Raft | null = null;
  private readonly options: RaftNodeOptions;
  private readonly waiters = new Map<number, Waiter>();
  private readonly readWaiters = new Map<string, ReadWaiter>();
  private readSeq = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private lastTickAtMs = 0;
  private processing = false;
  private scheduled = false;
  private stopped = false;
  private appliedIndex = 0;
  private appliedTermValue = 0;
  private persistedHard: HardState | null = null;
  /** A newer commit index not yet written (see handleReady). */
  private unwrittenHard: HardState | null = null;
  private appliedSinceSnapshot = 0;
  private fatal: Error | null = null;

  constructor(options: RaftNodeOptions) {
    this.id = options.id;
    this.options = options;
  }

  async start(): Promise<void> {
    const initial = await this.options.storage.load(this.options.bootstrap);
    this.persistedHard = initial.hardState;
    const raft = new Raft(
      {
        id: this.id,
        electionTicks: this.options.electionTicks,
        heartbeatTicks: this.options.heartbeatTicks,
        ...(this.options.voteRefusalTicks === undefined ? {} : { voteRefusalTicks: this.options.voteRefusalTicks }),
        ...(this.options.electionJitter === undefined ? {} : { electionJitter: this.options.electionJitter }),
        random: this.options.random,
        limits: this.options.limits ?? DEFAULT_LIMITS,
      },
      initial,
    );
    // Set before the restore: listeners of the state machine may reconfigure the core (setTimers).
    this.raft = raft;
    if (initial.snapshot !== null) {
      this.options.stateMachine.restore(initial.snapshot.data);
      this.appliedIndex = initial.snapshot.meta.index;
      this.appliedTermValue = initial.snapshot.meta.term;
    }
    this.options.transport.onMessages((messages) => this.receive(messages));
    this.lastTickAtMs = performance.now();
    this.tickTimer = setInterval(() => this.onTimer(), this.options.tickMs);
    this.schedule();
  }

  /** Proposes an opaque command; resolves with the state machine's result once applied here. */
  propose(data: Uint8Array): Promise<AppliedResult> {
    return this.awaitApply(() => this.core().propose(data));
  }

  proposeMembership(change: MembershipChange): Promise<AppliedResult> {
    return this.awaitApply(() => this.core().proposeMembership(change));
  }

  /**
   * Fire and forget: the leader appends `data`; a follower forwards it to the
   * leader it knows. Used for automatic reports that are re-sent until the
   * state shows them, so a loss on the way is harmless.
   */
  submit(data: Uint8Array): void {
    if (this.stopped || this.raft === null) return;
    this.raft.forward(data);
    this.schedule();
  }

  transferLeadership(to: NodeId): ProposalResult {
    const result = this.core().transferLeadership(to);
    this.schedule();
    return result;
  }

  /** The leader stands again in the next term (Raft.reelect). */
  reelect(): void {
    this.core().reelect();
    this.schedule();
  }

  /** New timers for the running core (a committed change of the cluster's timers). */
  setTimers(timers: RaftTimers): void {
    if (this.stopped || this.raft === null) return;
    this.raft.setTimers(timers);
    this.schedule();
  }

  campaign(): void {
    this.core().campaign();
    this.schedule();
  }

  /** Resolves with a commit index that, once applied here, makes local reads linearizable. */
  readIndex(): Promise<number> {
    this.assertRunning();
    if (this.readWaiters.size >= MAX_PENDING_READS) {
      return Promise.reject(new ProposalError({ code: 'UNCOMMITTED_LIMIT' }, 'too many reads in flight'));
    }
    const ctx = `${this.id}:${++this.readSeq}`;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readWaiters.delete(ctx);
        reject(new ProposalError({ code: 'TIMEOUT' }, 'read index not confirmed in time (no leader or no quorum)'));
      }, this.options.proposalTimeoutMs ?? 5000);
      this.readWaiters.set(ctx, { resolve, reject, timer });
      this.core().readIndex(ctx);
      this.schedule();
    }).then((index) => this.waitApplied(index).then(() => index));
  }

  status(): RaftStatus {
    return this.core().status();
  }

  /** The leader this node knows of, and its term: for every request, where status() would cost too much. */
  leaderAndTerm(): { readonly leader: NodeId | null; readonly term: number } {
    return this.core().leaderAndTerm();
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** See Raft.isRemoved. */
  isRemoved(): boolean {
    return this.raft?.isRemoved() ?? false;
  }

  /** Term of the last applied entry (a new leader's view is current once its own noop is applied). */
  get appliedTerm(): number {
    return this.appliedTermValue;
  }

  /** Milliseconds since the last tick: the part of the current tick already spent. */
  msIntoTick(): number {
    return Math.max(0, performance.now() - this.lastTickAtMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    const stopped = new ProposalError({ code: 'STOPPED' }, 'node is stopping');
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(stopped);
    }
    this.waiters.clear();
    for (const w of this.readWaiters.values()) {
      clearTimeout(w.timer);
      w.reject(stopped);
    }
    this.readWaiters.clear();
    // Let an in-flight persist finish so the store closes cleanly.
    while (this.processing) await new Promise((r) => setTimeout(r, 1));
    // A clean stop keeps the newest commit index, so a restart applies as far from its own disk.
    if (this.unwrittenHard !== null && this.fatal === null) {
      await this.options.storage.persist({ hardState: this.unwrittenHard, entries: [], snapshot: null }, true).catch(() => undefined);
    }
    await this.options.transport.close();
    await this.options.storage.close();
  }

  private core(): Raft {
    assert(this.raft !== null, 'RaftNode used before start()');
    return this.raft;
  }

  private assertRunning(): void {
    if (this.fatal !== null) throw this.fatal;
    if (this.stopped) throw new ProposalError({ code: 'STOPPED' }, 'node is stopping');
  }

  private awaitApply(propose: () => ProposalResult): Promise<AppliedResult> {
    this.assertRunning();
    if (this.waiters.size >= MAX_PENDING_PROPOSALS) {
      return Promise.reject(new ProposalError({ code: 'UNCOMMITTED_LIMIT' }, 'too many proposals in flight'));
    }
    const result = propose();
    if (!result.ok) return Promise.reject(refusalError(result.refusal));
    this.schedule();
    return new Promise<AppliedResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(result.index);
        reject(new ProposalError({ code: 'TIMEOUT' }, `entry ${result.index} not applied in time; its outcome is unknown`));
      }, this.options.proposalTimeoutMs ?? 5000);
      this.waiters.set(result.index, { term: result.term, resolve, reject, timer });
    });
  }

  private waitApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + (this.options.proposalTimeoutMs ?? 5000);
      const poll = (): void => {
        if (this.appliedIndex >= index) resolve();
        else if (this.stopped || performance.now() > deadline) {
          reject(new ProposalError({ code: 'TIMEOUT' }, `index ${index} not applied in time`));
        } else setTimeout(poll, 1);
      };
      poll();
    });
  }

  private receive(messages: readonly Message[]): void {
    if (this.stopped || this.raft === null) return;
    // After a freeze, Node runs pending I/O before timers: the time that
    // passed must reach the core before any message that was waiting.
    this.catchUpTicks();
    const wasLeader = this.raft.isLeader();
    for (const m of messages) this.raft.step(m);
    this.noticeElection(wasLeader);
    this.schedule();
  }

  /** Calls onElected when what just ran (a step, ticks, an advance that counted our own vote) made this node leader. */
  private noticeElection(wasLeader: boolean): void {
    if (!wasLeader && this.raft?.isLeader() === true) this.options.onElected?.();
  }

  /**
   * Ticks the core for the monotonic time that passed, not by timer
   * firings: after a freeze or a stalled event loop the lease must count
   * the time that really passed. Called before anything reads the lease.
   */
  catchUpTicks(): void {
    if (this.stopped || this.raft === null) return;
    const due = Math.floor((performance.now() - this.lastTickAtMs) / this.options.tickMs);
    if (due <= 0) return;
    const wasLeader = this.raft.isLeader();
    for (let i = 0; i < due; i++) this.raft.tick();
    this.lastTickAtMs += due * this.options.tickMs;
    this.noticeElection(wasLeader);
    this.schedule();
  }

  private onTimer(): void {
    this.catchUpTicks();
  }

  private schedule(): void {
    if (this.scheduled || this.processing || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.process();
    });
  }

  private async process(): Promise<void> {
    if (this.processing || this.stopped || this.raft === null) return;
    const raft = this.raft;
    this.processing = true;
    try {
      while (raft.hasReady() && !this.stopped) {
        const ready = raft.ready();
        await this.handleReady(raft, ready);
      }
    } catch (error) {
      // A storage failure means we can no longer promise durability: stop
      // taking part rather than acknowledge what is not on disk.
      this.fatal = error instanceof Error ? error : new Error(String(error));
      this.stopped = true;
      if (this.tickTimer !== null) clearInterval(this.tickTimer);
      this.options.onError?.(this.fatal);
    } finally {
      this.processing = false;
    }
    if (!this.stopped && raft.hasReady()) this.schedule();
  }

  private async handleReady(raft: Raft, ready: Ready): Promise<void> {
    if (ready.softState !== null) this.options.onSoftState?.(ready.softState.role, ready.softState.leader);
    const { now, later } = messagesBeforeWrite(ready, raft.isLeader(), this.persistedHard);
    let applied = 0;
    let write: Promise<void> | null = null;
    const hardState = ready.hardState ?? this.unwrittenHard;
    if (this.onlyCommitMoved(ready)) {
      // The commit index is volatile in Raft: a restart re-learns it from
      // the leader (and never goes below the snapshot). So a Ready that only
      // moves it writes nothing; the next write carries the newest value.
      this.unwrittenHard = ready.hardState;
    } else if (ready.hardState !== null || ready.entries.length > 0 || ready.snapshot !== null) {
      write = this.options.storage.persist({ hardState, entries: ready.entries, snapshot: ready.snapshot }, ready.mustSync);
    }
    // After the leader's own write is queued: its fsync then runs while the appends go out (each
    // send is a system call), rather than after them.
    if (now.length > 0) this.options.transport.send(now);
    if (write !== null) {
      try {
        // Committed entries already on disk here are applied while the write
        // runs (as etcd's server does): a leader under load answers its
        // clients during its fsync, and a follower applies in its shadow.
        applied = this.applyDurable(ready);
      } catch (error) {
        // The apply failure is the one to report; the write is only waited for.
        await write.catch(() => undefined);
        throw error;
      }
      await write;
      if (hardState !== null) this.persistedHard = hardState;
      this.unwrittenHard = null;
    }
    if (later.length > 0) this.options.transport.send(later);
    if (ready.snapshot !== null) {
      this.options.stateMachine.restore(ready.snapshot.data);
      this.appliedIndex = ready.snapshot.meta.index;
      this.appliedTermValue = ready.snapshot.meta.term;
      this.appliedSinceSnapshot = 0;
    }
    for (let i = applied; i < ready.committed.length; i++) this.applyEntry(ready.committed[i] as Entry);
    for (const rs of ready.readStates) {
      const w = this.readWaiters.get(rs.ctx);
      if (w === undefined) continue;
      this.readWaiters.delete(rs.ctx);
      clearTimeout(w.timer);
      if (rs.index < 0) w.reject(new ProposalError({ code: 'NOT_LEADER', leader: null }, 'read index refused: no leader able to serve it'));
      else w.resolve(rs.index);
    }
    // Our own vote, now on disk, may be the one that elects us.
    const wasLeader = raft.isLeader();
    raft.advance(ready);
    this.noticeElection(wasLeader);
    await this.maybeCompact(raft);
  }

  /**
   * Applies the committed entries of `ready` that were written by earlier
   * Readies (below its first new entry); returns how many. None when it
   * installs a snapshot, which must be restored first. A single voter
   * commits its entries in the Ready that writes them: those wait.
   */
  private applyDurable(ready: Ready): number {
    if (ready.snapshot !== null) return 0;
    const firstNew = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    let n = 0;
    for (const entry of ready.committed) {
      if (entry.index >= firstNew) break;
      this.applyEntry(entry);
      n++;
    }
    return n;
  }

  private onlyCommitMoved(ready: Ready): boolean {
    const h = ready.hardState;
    const p = this.persistedHard;
    return (
      h !== null && p !== null && ready.entries.length === 0 && ready.snapshot === null && !ready.mustSync &&
      h.term === p.term && h.vote === p.vote
    );
  }

  private applyEntry(entry: Entry): void {
    assert(entry.index === this.appliedIndex + 1, `apply out of order: ${entry.index} after ${this.appliedIndex}`);
    const result = this.options.stateMachine.apply(entry);
    this.appliedIndex = entry.index;
    this.appliedTermValue = entry.term;
    this.appliedSinceSnapshot++;
    this.options.onApplied?.(entry, result);
    const waiter = this.waiters.get(entry.index);
    if (waiter === undefined) return;
    this.waiters.delete(entry.index);
    clearTimeout(waiter.timer);
    if (waiter.term === entry.term) waiter.resolve({ index: entry.index, term: entry.term, result });
    else waiter.reject(new ProposalError({ code: 'SUPERSEDED' }, `entry ${entry.index} was replaced by a newer leader; not applied`));
  }

  private async maybeCompact(raft: Raft): Promise<void> {
    const every = this.options.snapshotEveryEntries ?? 10_000;
    if (this.appliedSinceSnapshot < every) return;
    if (this.options.stateMachine.holdsLog?.() === true) return;
    const index = this.appliedIndex;
    const data = this.options.stateMachine.snapshot();
    raft.compact(index, data);
    const status = raft.status();
    await this.options.storage.saveLocalSnapshot({
      meta: { index, term: status.snapshotTerm, membership: status.snapshotMembership },
      data,
    });
    this.appliedSinceSnapshot = 0;
  }
}

/**
 * Which of a Ready's messages may leave before its write is on disk (`now`)
 * and which only after (`later`). Raft thesis 10.2.1: a leader may
 * replicate its new entries while it writes them itself, because its own
 * copy only counts toward a commit that is applied (and acknowledged) in a
 * later Ready, after this one is on disk. A candidate's vote requests may
 * leave too: the core counts its own vote only once this write is done
 * (Raft.advance), so it never leads on a vote it could forget. Anything
 * else waits: a vote granted or an entry acknowledged must be on disk
 * first. The simulator's driver uses the same split.
 */
export function messagesBeforeWrite(ready: Ready, leader: boolean, persisted: HardState | null): { now: readonly Message[]; later: readonly Message[] } {
  const h = ready.hardState;
  const termOrVoteChanged = h !== null && (persisted === null || h.term !== persisted.term || h.vote !== persisted.vote);
  if (leader && !termOrVoteChanged) return { now: ready.messages, later: [] };
  if (!ready.messages.some((m) => m.type === 'vote')) return { now: [], later: ready.messages };
  return { now: ready.messages.filter((m) => m.type === 'vote'), later: ready.messages.filter((m) => m.type !== 'vote') };
}

function refusalError(refusal: ProposalRefusal): ProposalError {
  switch (refusal.code) {
    case 'NOT_LEADER':
      return new ProposalError(refusal, `not the leader${refusal.leader === null ? ' (no leader known)' : ` (leader is ${refusal.leader})`}`);
    case 'TRANSFER_IN_PROGRESS':
      return new ProposalError(refusal, 'a leadership transfer is in progress; retry shortly');
    case 'MEMBERSHIP_CHANGE_PENDING':
      return new ProposalError(refusal, 'another membership change is not yet committed');
    case 'UNCOMMITTED_LIMIT':
      return new ProposalError(refusal, 'too much uncommitted data; retry shortly');
    case 'INVALID_MEMBERSHIP_CHANGE':
      return new ProposalError(refusal, `membership change refused: ${refusal.reason}`);
  }
}
