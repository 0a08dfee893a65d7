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

/** A node that is started only by start(); its transport is up at once. */
function startNode(hub: MemoryHub, id: NodeId, storage: MemoryStorage, sm: StateMachine): RaftNode {
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

/** The three nodes of IDS on one hub, each with its own store and recorder, started until one leads. */
async function threeNodes<S extends MemoryStorage>(store: (id: NodeId) => S) {
  const hub = new MemoryHub();
  const stores = new Map(IDS.map((id) => [id, store(id)]));
  const machines = new Map(IDS.map((id) => [id, new Recorder()]));
  const nodes = IDS.map((id) => startNode(hub, id, stores.get(id) as S, machines.get(id) as Recorder));
  await Promise.all(nodes.map((n) => n.start()));
  await until('a leader', () => nodes.some((n) => n.status().role === 'leader'));
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
