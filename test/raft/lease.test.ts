/**
 * The lease promise under a continuous clock: nodes tick at the same rate
 * but out of phase, messages take up to 1.5 ticks or are lost, partitions
 * come and go, nodes crash and restart at once from their stores, and
 * leaders start transfers. After every event: while a leader reports
 * leaseRemainingTicks > 0, no other node leads at a higher term, and no
 * two nodes report a lease at once.
 */
import t from 'tap';
import { Raft } from '../../src/raft/raft.js';
import { DEFAULT_LIMITS, type Message, type NodeId } from '../../src/raft/types.js';
import { Cluster, MemStore, membershipOf, seededRandom } from './harness.js';

const TICK_UNITS = 100;

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly kind: 'tick' | 'deliver';
  readonly node: NodeId;
  readonly msg?: Message;
  readonly incarnation: number;
}

interface LeaseNode {
  readonly id: NodeId;
  raft: Raft;
  readonly store: MemStore;
  readonly phase: number;
  incarnation: number;
}

/** A binary min-heap on (at, seq): events in time order, ties in scheduling order. */
class EventHeap {
  private readonly items: SimEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  private less(i: number, j: number): boolean {
    const a = this.items[i] as SimEvent;
    const b = this.items[j] as SimEvent;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const x = this.items[i] as SimEvent;
    this.items[i] = this.items[j] as SimEvent;
    this.items[j] = x;
  }

  push(e: SimEvent): void {
    this.items.push(e);
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): SimEvent {
    const top = this.items[0] as SimEvent;
    const last = this.items.pop() as SimEvent;
    if (this.items.length > 0) {
      this.items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.items.length && this.less(l, m)) m = l;
        if (r < this.items.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

function runSchedule(seed: number, ids: readonly NodeId[], witnesses: readonly NodeId[], steps: number): string | null {
  const rnd = seededRandom(seed);
  const electionTicks = 6 + Math.floor(rnd() * 6);
  const heartbeatTicks = 1 + Math.floor(rnd() * 2);
  const membership = membershipOf(ids, { witnesses });
  let seq = 0;
  const queue = new EventHeap();
  const push = (e: Omit<SimEvent, 'seq'>): void => {
    queue.push({ ...e, seq: seq++ });
  };
  const nodes = new Map<NodeId, LeaseNode>();
  const make = (id: NodeId, store: MemStore, incarnation: number): Raft =>
    new Raft({ id, electionTicks, heartbeatTicks, random: seededRandom(seed * 31 + incarnation * 7 + id.charCodeAt(0)), limits: DEFAULT_LIMITS }, store.initial(membership));
  for (const id of ids) {
    const store = new MemStore();
    const node: LeaseNode = { id, raft: make(id, store, 0), store, phase: Math.floor(rnd() * TICK_UNITS), incarnation: 0 };
    nodes.set(id, node);
    push({ at: node.phase, kind: 'tick', node: id, incarnation: 0 });
  }
  let cut = new Set<NodeId>();
  const drain = (n: LeaseNode, now: number): void => {
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      if (rd.hardState !== null) n.store.hardState = rd.hardState;
      if (rd.snapshot !== null) n.store.installSnapshot(rd.snapshot);
      n.store.append(rd.entries);
      for (const m of rd.messages) {
        if (rnd() < 0.1 || cut.has(m.from) !== cut.has(m.to)) continue;
        push({ at: now + 1 + Math.floor(rnd() * 1.5 * TICK_UNITS), kind: 'deliver', node: m.to, msg: m, incarnation: -1 });
      }
      n.raft.advance(rd);
    }
  };
  const check = (now: number): string | null => {
    const statuses = [...nodes.values()].map((n) => n.raft.status());
    const leased = statuses.filter((s) => s.leaseRemainingTicks > 0);
    if (leased.length > 1) return `two leases at ${now}: ${leased.map((s) => `${s.id}@${s.term}`).join(' ')}`;
    for (const l of leased) {
      const rival = statuses.find((s) => s.id !== l.id && s.role === 'leader' && s.term > l.term);
      if (rival !== undefined) return `${rival.id} leads term ${rival.term} while ${l.id} (term ${l.term}) holds a lease of ${l.leaseRemainingTicks} at ${now}`;
    }
    return null;
  };
  let proposals = 0;
  for (let step = 0; step < steps && queue.size > 0; step++) {
    const e = queue.pop();
    const n = nodes.get(e.node) as LeaseNode;
    if (e.kind === 'tick') {
      if (e.incarnation !== n.incarnation) continue;
      n.raft.tick();
      const r = rnd();
      if (r < 0.004) {
        // Crash and restart at once from what was persisted.
        n.incarnation++;
        n.raft = make(n.id, n.store, n.incarnation);
      } else if (r < 0.01) {
        cut = rnd() < 0.5 ? new Set() : new Set(ids.filter(() => rnd() < 0.4));
      } else if (r < 0.015 && n.raft.status().role === 'leader') {
        const others = ids.filter((id) => id !== n.id && !witnesses.includes(id));
        const to = others[Math.floor(rnd() * others.length)];
        if (to !== undefined) n.raft.transferLeadership(to);
      } else if (r < 0.017 && n.raft.status().role === 'leader') {
        // Standing again is a transfer to itself (Raft.reelect); the role layer asks only after a
        // TimeoutNow voided the lease, this asks at any time.
        n.raft.reelect();
      } else if (r < 0.1 && n.raft.status().role === 'leader') {
        if (n.raft.propose(new Uint8Array([proposals & 255])).ok) proposals++;
      }
      push({ at: e.at + TICK_UNITS, kind: 'tick', node: n.id, incarnation: n.incarnation });
    } else if (e.msg !== undefined) {
      n.raft.step(e.msg);
    }
    n.raft.checkInvariants();
    drain(n, e.at);
    const violation = check(e.at);
    if (violation !== null) return `seed ${seed}: ${violation}`;
  }
  return null;
}

t.test('no other leader can exist while a leader reports a lease (out-of-phase clocks, loss, delay, crashes, transfers, leaders standing again)', (t) => {
  const failures: string[] = [];
  let seeds = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const shape = seed % 3;
    const ids = shape === 0 ? ['a', 'b', 'c', 'd', 'e'] : ['a', 'b', 'c'];
    const witnesses = shape === 2 ? ['c'] : [];
    const failure = runSchedule(seed, ids, witnesses, 15_000);
    seeds++;
    if (failure !== null) failures.push(failure);
  }
  t.same(failures, [], `${seeds} schedules`);
  t.end();
});

// The tightest case, by hand. The leader's heartbeat sent at its tick s
// reaches b just before b's own tick, so b's refusal window (electionTicks
// of b's ticks) ends just after the leader's tick s + electionTicks - 1.
// From then on b may vote for another candidate; the lease must already be
// over, which is why it is s + electionTicks - 1 - now and not s + electionTicks - now.
t.test('the lease ends before the earliest moment an acknowledging follower may vote again', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 5 });
  c.elect('a');
  c.filter = () => false;
  c.tick('c', 30); // c lost contact long ago and campaigns in vain
  c.take();
  const a = c.raft('a');
  const b = c.raft('b');
  c.tick('a', 5);
  const [hb] = c.take((m) => m.type === 'heartbeat' && m.to === 'b');
  if (hb === undefined || hb.type !== 'heartbeat') throw new Error('no heartbeat');
  const s = hb.sentTick;
  b.step(hb);
  const [ack] = c.take((m) => m.type === 'heartbeatResponse');
  if (ack === undefined) throw new Error('no ack');
  a.step(ack);
  c.take();
  t.equal(a.status().leaseRemainingTicks, 9, 'acknowledged by b: s + 10 - 1 - now with now = s');
  // b ticks just after each of a's ticks: b's k-th tick falls between a's ticks s+k-1 and s+k.
  for (let k = 1; k <= 10; k++) {
    b.tick();
    if (k < 10) a.tick();
  }
  c.take();
  t.equal(a.status().tick, s + 9);
  t.equal(b.status().ticksSinceLeaderContact, 10, 'b is out of its refusal window');
  const term = b.status().term;
  b.step({ type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term });
  b.step({ type: 'vote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term, transfer: false });
  t.match(
    c.take((m) => m.type === 'voteResponse'),
    [{ granted: true, term: term + 1 }],
    'b votes for c: with c itself that is a quorum for a new leader',
  );
  t.equal(a.status().leaseRemainingTicks, 0, 'and the old leader no longer claims a lease');
  t.end();
});
