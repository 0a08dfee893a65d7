/**
 * The driver loop (src/node/raft-node.ts) over in-memory storage and
 * transport: what it writes, and what a restart finds.
 */
import t from 'tap';
import { RaftNode, type StateMachine } from '../../src/node/raft-node.js';
import type { Entry, HardState, Membership, NodeId } from '../../src/raft/types.js';
import type { PersistBatch } from '../../src/storage/raft-storage.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { MemoryHub } from '../../src/transport/memory-transport.js';

const IDS = ['a', 'b', 'c'] as const;
const MEMBERSHIP: Membership = { voters: IDS.map((id) => ({ id, kind: 'data' as const, peer: `${id}:1` })), learners: [] };

/** Applies entries in order and remembers the data of each command entry. */
class Recorder implements StateMachine {
  values: string[] = [];
  apply(entry: Entry): unknown {
    if (entry.payload.type === 'command') this.values.push(new TextDecoder().decode(entry.payload.data));
    return this.values.length;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values));
  }
  restore(data: Uint8Array): void {
    this.values = JSON.parse(new TextDecoder().decode(data)) as string[];
  }
}

/** Every batch the driver writes, to see what each Ready cost. */
class CountingStorage extends MemoryStorage {
  readonly batches: PersistBatch[] = [];
  override persist(batch: PersistBatch, sync: boolean): Promise<void> {
    this.batches.push(batch);
    return super.persist(batch, sync);
  }
}

/** Writes that can be held back (persist waits while the gate is shut), to see what the driver does meanwhile. */
class GatedStorage extends CountingStorage {
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private holds: (batch: PersistBatch) => boolean = () => true;
  /** Writes started while shut, not yet finished. */
  waiting = 0;
  /** Holds back the writes `holds` picks (all by default) until reopen(). */
  shut(holds: (batch: PersistBatch) => boolean = () => true): void {
    this.holds = holds;
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  reopen(): void {
    this.open?.();
    this.gate = null;
  }
  override async persist(batch: PersistBatch, sync: boolean): Promise<void> {
    const gate = this.gate;
    if (gate !== null && this.holds(batch)) {
      this.waiting++;
      await gate;
      this.waiting--;
    }
    return super.persist(batch, sync);
  }
}

/** A node that is started only by start(); its transport is up at once. */
function startNode(hub: MemoryHub, id: NodeId, storage: MemoryStorage, sm: StateMachine, extra: { onElected?: () => void } = {}): RaftNode {
  const transport = hub.transport(id);
  void transport.start();
  transport.setPeers(MEMBERSHIP.voters.filter((m) => m.id !== id).map((m) => ({ id: m.id, address: m.peer })));
  let seed = id.charCodeAt(0);
  return new RaftNode({
    id,
    storage,
    transport,
    stateMachine: sm,
    bootstrap: MEMBERSHIP,
    tickMs: 5,
    electionTicks: 20,
    heartbeatTicks: 2,
    ...extra,
    random: () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    },
  });
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The three nodes of IDS on one hub, each with its own store and recorder,
 * started until one leads, has committed its noop and every follower holds
 * its whole log: settled, so that a transfer's TimeoutNow (with the
 * leader's vote, docs/raft-timing.md rule 5) goes at once.
 */
async function threeNodes<S extends MemoryStorage>(store: (id: NodeId) => S, onElected: (id: NodeId) => void = () => undefined) {
  const hub = new MemoryHub();
  const stores = new Map(IDS.map((id) => [id, store(id)]));
  const machines = new Map(IDS.map((id) => [id, new Recorder()]));
  const nodes = IDS.map((id) => startNode(hub, id, stores.get(id) as S, machines.get(id) as Recorder, { onElected: () => onElected(id) }));
  await Promise.all(nodes.map((n) => n.start()));
  await until('a settled leader', () =>
    nodes.some((n) => {
      const s = n.status();
      return s.role === 'leader' && s.commit >= s.termStartIndex && Object.values(s.progress).every((p) => p.match === s.lastIndex);
    }),
  );
  return { hub, stores, machines, nodes };
}

t.test('a Ready that only moves the commit index writes nothing; a clean stop writes the newest one', async (t) => {
  const { stores, machines, nodes } = await threeNodes((id) => new CountingStorage(id));
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;

  const N = 50;
  for (let i = 0; i < N; i++) await leader.propose(new TextEncoder().encode(`v${i}`));
  const want = Array.from({ length: N }, (_, i) => `v${i}`);
  await until('every node applied everything', () => IDS.every((id) => (machines.get(id) as Recorder).values.length === N));

  for (const id of IDS) {
    // Without entries, only a new term or vote (an election) is worth a write.
    let previous: HardState = { term: 0, vote: null, commit: 0 };
    const commitOnly: HardState[] = [];
    for (const b of (stores.get(id) as CountingStorage).batches) {
      const h = b.hardState;
      if (h === null) continue;
      if (b.entries.length === 0 && b.snapshot === null && h.term === previous.term && h.vote === previous.vote) commitOnly.push(h);
      previous = h;
    }
    t.same(commitOnly, [], `${id}: no write carried only a newer commit index`);
    t.same((machines.get(id) as Recorder).values, want, `${id} applied every value in order`);
  }

  const applied = new Map(IDS.map((id, i) => [id, (nodes[i] as RaftNode).applied]));
  await Promise.all(nodes.map((n) => n.stop()));

  // Each node alone, from its own disk: it applies exactly what it had applied.
  for (const id of IDS) {
    const restarted = new Recorder();
    const alone = new MemoryHub();
    const node = startNode(alone, id, (stores.get(id) as CountingStorage).durableCopy(), restarted);
    await node.start();
    t.equal(node.status().commit, applied.get(id), `${id}: the commit index written at stop is the one it had applied`);
    await until(`${id} replays its log`, () => node.applied === applied.get(id));
    t.same(restarted.values, want, `${id} replays every value without any peer`);
    await node.stop();
  }
});

t.test('after a crash the commit index may be behind, never ahead, and the leader brings it back', async (t) => {
  const { hub, stores, machines, nodes } = await threeNodes((id) => new MemoryStorage(id));
  const leaderIndex = nodes.findIndex((n) => n.status().role === 'leader');
  const leader = nodes[leaderIndex] as RaftNode;
  const followerIndex = (leaderIndex + 1) % IDS.length;
  const followerId = IDS[followerIndex] as (typeof IDS)[number];

  const N = 20;
  for (let i = 0; i < N; i++) await leader.propose(new TextEncoder().encode(`v${i}`));
  await until('the follower applied everything', () => (machines.get(followerId) as Recorder).values.length === N);

  // A crash: what the store holds now, without the clean stop's final write.
  const crashed = (stores.get(followerId) as MemoryStorage).durableCopy();
  const committed = leader.status().commit;
  await (nodes[followerIndex] as RaftNode).stop();
  const restarted = new Recorder();
  const node = startNode(hub, followerId, crashed, restarted);
  await node.start();
  t.ok(node.status().commit <= committed, `the restarted follower starts at commit ${node.status().commit}, not ahead of the leader's ${committed}`);
  await until('the restarted follower catches up from the leader', () => restarted.values.length === N);
  t.same(restarted.values, Array.from({ length: N }, (_, i) => `v${i}`), 'it applies exactly the committed values, in order');
  await Promise.all([node.stop(), ...nodes.filter((_, i) => i !== followerIndex).map((n) => n.stop())]);
});

t.test('a candidate leads only once its own vote is on disk (the old leader handed over with its vote: the two make the majority)', async (t) => {
  const { hub, stores, nodes } = await threeNodes((id) => new GatedStorage(id));
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  const target = nodes.find((n) => n.status().role !== 'leader') as RaftNode;
  const third = nodes.find((n) => n !== leader && n !== target) as RaftNode;
  const targetId = target.status().id;
  const store = stores.get(targetId as (typeof IDS)[number]) as GatedStorage;
  const term = leader.status().term + 1;
  // Only the old leader's vote reaches it: its own makes the majority.
  hub.cut(targetId, third.status().id);
  store.shut((batch) => batch.hardState?.vote === targetId);
  t.teardown(() => store.reopen());
  t.ok(leader.transferLeadership(targetId).ok);
  t.match(leader.status(), { term, vote: targetId }, 'the old leader voted for the target as it handed over');
  await until("the target's write of its term and vote waits", () => store.waiting > 0);
  await new Promise((r) => setTimeout(r, 30));
  t.equal(target.status().role, 'candidate', 'not leader on a vote for itself that is not on disk');
  t.not(leader.status().leader, targetId, 'nobody has heard from it as leader');
  store.reopen();
  await until('the old leader follows the new one', () => leader.status().leader === targetId);
  t.equal(target.status().term, term);
  hub.heal(targetId, third.status().id);
  await Promise.all(nodes.map((n) => n.stop()));
});

t.test('what a new leader proposes on being elected is written in one batch with its noop', async (t) => {
  const proposedBy: NodeId[] = [];
  let nodes: RaftNode[] = [];
  const cluster = await threeNodes(
    (id) => new CountingStorage(id),
    (id) => {
      const node = nodes.find((n) => n.status().id === id);
      if (node === undefined || proposedBy.includes(id)) return;
      proposedBy.push(id);
      void node.propose(new TextEncoder().encode(`first of ${id}`));
    },
  );
  nodes = cluster.nodes;
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  const target = nodes.find((n) => n.status().role !== 'leader') as RaftNode;
  const id = target.status().id as (typeof IDS)[number];
  t.ok(leader.transferLeadership(id).ok);
  await until('the target leads and applied its proposal', () => (cluster.machines.get(id) as Recorder).values.includes(`first of ${id}`));
  const term = target.status().term;
  const batch = (cluster.stores.get(id) as CountingStorage).batches.find((b) => b.entries.some((e) => e.term === term));
  t.same(
    batch?.entries.map((e) => e.payload.type),
    ['noop', 'command'],
    'the first write of its term holds the noop and the proposal made on election',
  );
  await Promise.all(nodes.map((n) => n.stop()));
});

t.test('a leader sends its new entries while it writes them, and applies them only once its write is done', async (t) => {
  const { stores, nodes } = await threeNodes((id) => new GatedStorage(id));
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  const followers = nodes.filter((n) => n !== leader);
  const store = stores.get(leader.status().id as (typeof IDS)[number]) as GatedStorage;
  store.shut();
  t.teardown(() => store.reopen());
  let acknowledged = false;
  const proposal = leader.propose(new TextEncoder().encode('early')).then((r) => {
    acknowledged = true;
    return r;
  });
  const index = leader.status().lastIndex;
  await until('both followers hold the entry', () => followers.every((n) => n.status().lastIndex >= index));
  t.ok(store.waiting > 0, 'the leader\'s own write is still waiting');
  await new Promise((r) => setTimeout(r, 30));
  t.notOk(acknowledged, 'not acknowledged before the leader\'s write is done');
  t.ok(leader.applied < index, 'not applied on the leader either');
  store.reopen();
  t.equal((await proposal).index, index, 'acknowledged once it is');
  await Promise.all(nodes.map((n) => n.stop()));
});

t.test('a leader applies what an earlier write holds while its next write runs, not what that write holds', async (t) => {
  const { stores, nodes } = await threeNodes((id) => new GatedStorage(id));
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  const store = stores.get(leader.status().id as (typeof IDS)[number]) as GatedStorage;
  const text = (value: string) => new TextEncoder().encode(value);
  const holding = (value: string) => (b: PersistBatch) =>
    b.entries.some((e) => e.payload.type === 'command' && new TextDecoder().decode(e.payload.data) === value);
  t.teardown(() => store.reopen());

  // p1's write is held while the followers acknowledge it, and p2 is proposed meanwhile.
  store.shut(holding('p1'));
  const first = leader.propose(text('p1'));
  const p1 = leader.status().lastIndex;
  await until('p1 committed by the followers while the leader still writes it', () => leader.status().commit >= p1);
  let secondDone = false;
  const second = leader.propose(text('p2')).then((r) => {
    secondDone = true;
    return r;
  });
  const p2 = leader.status().lastIndex;
  // p1's write finishes; the next write, holding p2 (and the commit of p1), is held.
  store.reopen();
  store.shut(holding('p2'));
  t.equal((await first).index, p1, 'p1 acknowledged');
  t.equal(store.waiting, 1, 'while the write of p2 is still running');
  t.equal(leader.applied, p1, 'p1 applied, p2 not');
  t.notOk(secondDone);
  store.reopen();
  t.equal((await second).index, p2, 'p2 acknowledged once its write is done');
  await Promise.all(nodes.map((n) => n.stop()));
});

t.test('a single voter, elected once its own vote is on disk, also writes its first proposal with its noop', async (t) => {
  const hub = new MemoryHub();
  const transport = hub.transport('solo');
  void transport.start();
  const store = new CountingStorage('solo');
  const machine = new Recorder();
  let node: RaftNode | null = null;
  let elections = 0;
  node = new RaftNode({
    id: 'solo',
    storage: store,
    transport,
    stateMachine: machine,
    bootstrap: { voters: [{ id: 'solo', kind: 'data', peer: 'solo:1' }], learners: [] },
    tickMs: 5,
    electionTicks: 4,
    heartbeatTicks: 1,
    random: () => 0.5,
    onElected: () => {
      elections++;
      void node?.propose(new TextEncoder().encode('first'));
    },
  });
  t.teardown(() => node?.stop());
  await node.start();
  await until('the proposal made on election is applied', () => machine.values.includes('first'));
  t.equal(elections, 1, 'told once');
  const term = node.status().term;
  const batch = store.batches.find((b) => b.entries.some((e) => e.term === term));
  t.same(batch?.entries.map((e) => e.payload.type), ['noop', 'command'], 'noop and proposal in one write');
});

t.test('a removed node knows it is out; the others and a node waiting to join do not think they are', async (t) => {
  const { nodes, hub } = await threeNodes((id) => new MemoryStorage(id));
  t.teardown(() => Promise.all(nodes.map((n) => n.stop())));
  t.same(nodes.map((n) => n.isRemoved()), [false, false, false], 'members');
  const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
  const gone = nodes.find((n) => n !== leader) as RaftNode;
  await leader.proposeMembership({ op: 'remove', id: gone.id });
  await until('the removed node learns it is out', () => gone.isRemoved());
  t.same(
    nodes.filter((n) => n !== gone).map((n) => n.isRemoved()),
    [false, false],
    'the others are still members',
  );


  // A node that has not joined yet (no log, not in the membership it knows) is not "removed".
  const fresh = new RaftNode({
    id: 'd',
    storage: new MemoryStorage('d'),
    transport: hub.transport('d'),
    stateMachine: new Recorder(),
    bootstrap: null,
    tickMs: 5,
    electionTicks: 20,
    heartbeatTicks: 2,
    random: () => 0.5,
  });
  t.teardown(() => fresh.stop());
  await fresh.start();
  t.equal(fresh.isRemoved(), false, 'waiting to join');
});
