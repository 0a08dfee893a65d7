/**
 * A hand-driven cluster of real Raft cores for unit tests: every Ready is
 * persisted into an in-memory store, its messages go to an outbox, and the
 * test decides what is delivered, dropped or held. Deterministic: seeded
 * randomness, no clock.
 */
import { Raft } from '../../src/raft/raft.js';
import {
  DEFAULT_LIMITS,
  type Entry,
  type FaultFlags,
  type HardState,
  type InitialState,
  type Member,
  type MemberKind,
  type Membership,
  type Message,
  type NodeId,
  type RaftLimits,
  type ReadState,
  type Snapshot,
} from '../../src/raft/types.js';

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function member(id: NodeId, kind: MemberKind = 'data'): Member {
  return { id, kind, peer: `${id}:7400` };
}

export function membershipOf(voters: readonly NodeId[], opts: { witnesses?: readonly NodeId[]; learners?: readonly NodeId[] } = {}): Membership {
  const w = new Set(opts.witnesses ?? []);
  return {
    voters: voters.map((id) => member(id, w.has(id) ? 'witness' : 'data')),
    learners: (opts.learners ?? []).map((id) => member(id, w.has(id) ? 'witness' : 'data')),
  };
}

/** Durable state as the driver would keep it, following the Ready contract. */
export class MemStore {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];

  get snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    const keep = Math.max(0, first - this.snapshotIndex - 1);
    this.entries.length = Math.min(this.entries.length, keep);
    for (const e of entries) if (e.index > this.snapshotIndex) this.entries.push(e);
  }

  /** A leader's snapshot replaces the whole stored log (the Ready contract). */
  installSnapshot(s: Snapshot): void {
    const at = this.entries[s.meta.index - this.snapshotIndex - 1];
    if (at !== undefined && at.term === s.meta.term) throw new Error(`core handed out snapshot ${s.meta.index} although the log holds its last entry`);
    this.snapshot = s;
    this.entries = [];
  }

  compact(s: Snapshot): void {
    this.entries = this.entries.slice(s.meta.index - this.snapshotIndex);
    this.snapshot = s;
  }

  initial(bootstrap: Membership | null): InitialState {
    const empty = this.snapshot === null && this.entries.length === 0;
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries.slice(), bootstrap: empty ? bootstrap : null };
  }
}

export interface TestNode {
  readonly id: NodeId;
  raft: Raft;
  readonly store: MemStore;
  /** Entries applied, in order (the state machine). */
  applied: Entry[];
  appliedIndex: number;
  readStates: ReadState[];
  up: boolean;
}

export interface ClusterOptions {
  readonly voters: readonly NodeId[];
  readonly witnesses?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** Nodes that start with no bootstrap membership (the join path). */
  readonly joiners?: readonly NodeId[];
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly limits?: Partial<RaftLimits>;
  readonly faults?: FaultFlags;
  readonly seed?: number;
  /** Start these nodes from the given state instead of the bootstrap. */
  readonly initial?: Readonly<Record<NodeId, InitialState>>;
}

/** A restart state with a hand-built log; membership rides on an empty snapshot at index 0. */
export function initialWithLog(term: number, entries: readonly Entry[], membership: Membership, commit = 0, vote: NodeId | null = null): InitialState {
  return {
    hardState: { term, vote, commit },
    snapshot: { meta: { index: 0, term: 0, membership }, data: new Uint8Array(0) },
    entries,
    bootstrap: null,
  };
}

/** A log from a list of terms: index i+1 has terms[i]. */
export function logOf(terms: readonly number[]): Entry[] {
  return terms.map((term, i) => ent(i + 1, term, `e${i + 1}t${term}`));
}

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  outbox: Message[] = [];
  /** Return false to drop a message at delivery. */
  filter: (m: Message) => boolean = () => true;
  /** Rewrites a message at delivery (after the filter). */
  rewrite: (m: Message) => Message = (m) => m;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly limits: RaftLimits;
  readonly bootstrap: Membership;
  private readonly opts: ClusterOptions;
  private seedCounter: number;
  delivered = 0;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.electionTicks = opts.electionTicks ?? 10;
    this.heartbeatTicks = opts.heartbeatTicks ?? 1;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.bootstrap = membershipOf(opts.voters, opts);
    this.seedCounter = opts.seed ?? 1;
    const all = [...opts.voters, ...(opts.learners ?? []), ...(opts.joiners ?? [])];
    for (const id of all) {
      const store = new MemStore();
      const given = opts.initial?.[id];
      if (given !== undefined) {
        store.hardState = given.hardState;
        store.snapshot = given.snapshot;
        store.entries = given.entries.slice();
      }
      const bootstrap = opts.joiners?.includes(id) === true ? null : this.bootstrap;
      const node: TestNode = { id, raft: this.newRaft(id, store.initial(bootstrap)), store, applied: [], appliedIndex: store.snapshotIndex, readStates: [], up: true };
      this.nodes.set(id, node);
    }
    this.drainAll();
  }

  private newRaft(id: NodeId, initial: InitialState): Raft {
    return new Raft(
      {
        id,
        electionTicks: this.electionTicks,
        heartbeatTicks: this.heartbeatTicks,
        random: seededRandom(this.seedCounter++ * 7919),
        limits: this.limits,
        faults: this.opts.faults ?? {},
      },
      initial,
    );
  }

  /** Adds a brand-new node with an empty store (it waits to be contacted). */
  addJoiner(id: NodeId): TestNode {
    const store = new MemStore();
    const node: TestNode = { id, raft: this.newRaft(id, store.initial(null)), store, applied: [], appliedIndex: 0, readStates: [], up: true };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  /** Takes every Ready of one node (at most `maxReadies`): persist, send (to the outbox), install, apply, advance. */
  drain(id: NodeId, maxReadies = Number.POSITIVE_INFINITY): void {
    const n = this.node(id);
    if (!n.up) return;
    for (let taken = 0; taken < maxReadies && n.raft.hasReady(); taken++) {
      const rd = n.raft.ready();
      if (rd.hardState !== null) n.store.hardState = rd.hardState;
      if (rd.snapshot !== null) n.store.installSnapshot(rd.snapshot);
      n.store.append(rd.entries);
      this.outbox.push(...rd.messages);
      if (rd.snapshot !== null) {
        n.applied = n.applied.filter((e) => e.index <= rd.snapshot!.meta.index);
        n.appliedIndex = rd.snapshot.meta.index;
      }
      for (const e of rd.committed) {
        if (e.index !== n.appliedIndex + 1) throw new Error(`${id} applies ${e.index} after ${n.appliedIndex}`);
        n.applied.push(e);
        n.appliedIndex = e.index;
      }
      n.readStates.push(...rd.readStates);
      n.raft.advance(rd);
      n.raft.checkInvariants();
    }
  }

  drainAll(): void {
    for (const id of this.nodes.keys()) this.drain(id);
  }

  /** Delivers the current outbox once (messages sent in response wait for the next round). */
  deliverOnce(): number {
    const batch = this.outbox;
    this.outbox = [];
    let n = 0;
    for (const m of batch) {
      const to = this.nodes.get(m.to);
      if (to === undefined || !to.up || !this.filter(m)) continue;
      to.raft.step(this.rewrite(m));
      to.raft.checkInvariants();
      n++;
      this.delivered++;
    }
    this.drainAll();
    return n;
  }

  /** Delivers until no messages remain (bounded). */
  stabilize(maxRounds = 200): void {
    this.drainAll();
    for (let i = 0; i < maxRounds && this.outbox.length > 0; i++) this.deliverOnce();
    if (this.outbox.length > 0) throw new Error('cluster did not stabilize');
  }

  /**
   * Stabilizes, then ticks each leader once if a follower has yet to learn
   * its commit index (a leader does not broadcast a newer commit index; it
   * rides on the next append, or on an empty one at the next tick), and
   * stabilizes again. The state a real cluster reaches within a tick.
   */
  settle(): void {
    this.stabilize();
    const behind = (leader: TestNode): boolean =>
      [...this.nodes.values()].some((n) => n.up && n !== leader && n.raft.status().commit < leader.raft.status().commit);
    const leaders = [...this.nodes.values()].filter((n) => n.up && n.raft.isLeader() && behind(n));
    if (leaders.length === 0) return;
    for (const n of leaders) this.tick(n.id);
    this.stabilize();
  }

  /** Takes the outbox without delivering it. */
  take(pred: (m: Message) => boolean = () => true): Message[] {
    this.drainAll();
    const taken = this.outbox.filter(pred);
    this.outbox = this.outbox.filter((m) => !pred(m));
    return taken;
  }

  tick(id: NodeId, times = 1): void {
    const n = this.node(id);
    for (let i = 0; i < times; i++) {
      if (!n.up) return;
      n.raft.tick();
      n.raft.checkInvariants();
    }
    this.drain(id);
  }

  /** Ticks every live node once, then stabilizes the network; `times` rounds. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) {
        if (!n.up) continue;
        n.raft.tick();
        n.raft.checkInvariants();
      }
      this.stabilize();
    }
  }

  /** Cuts `ids` off from everyone else (both directions). */
  isolate(...ids: NodeId[]): void {
    const cut = new Set(ids);
    this.filter = (m) => cut.has(m.from) === cut.has(m.to);
  }

  heal(): void {
    this.filter = () => true;
  }

  crash(id: NodeId): void {
    this.node(id).up = false;
    this.outbox = this.outbox.filter((m) => m.to !== id && m.from !== id);
  }

  /** Restarts a node from what its store holds. */
  restart(id: NodeId): void {
    const n = this.node(id);
    const bootstrap = this.opts.joiners?.includes(id) === true ? null : this.bootstrap;
    n.raft = this.newRaft(id, n.store.initial(bootstrap));
    n.up = true;
    n.applied = n.applied.filter((e) => e.index <= n.store.snapshotIndex);
    n.appliedIndex = n.store.snapshotIndex;
    this.drain(id);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.up && n.raft.status().role === 'leader').map((n) => n.id);
  }

  /** Campaigns from `id` and settles the election. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
    const s = this.raft(id).status();
    if (s.role !== 'leader') throw new Error(`${id} did not win: ${s.role} term ${s.term}`);
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const r = this.raft(id).propose(new TextEncoder().encode(text));
    if (!r.ok) throw new Error(`proposal refused: ${JSON.stringify(r.refusal)}`);
    return { index: r.index, term: r.term };
  }

  /** The command texts a node has applied, in order. */
  appliedTexts(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.payload.type === 'command')
      .map((e) => (e.payload.type === 'command' ? new TextDecoder().decode(e.payload.data) : ''));
  }
}

export function cmd(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** An entry for hand-built logs. */
export function ent(index: number, term: number, text?: string): Entry {
  return { index, term, payload: text === undefined ? { type: 'noop' } : { type: 'command', data: cmd(text) } };
}
