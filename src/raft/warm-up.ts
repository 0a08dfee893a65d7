/**
 * Runs the core through the paths a failback takes, in memory, once at start.
 *
 * A node that has only followed since it started runs its leader code for
 * the first time in the middle of a failback or a failover: V8 compiles a
 * function on its first call and runs it interpreted until it is hot, which
 * showed up as a failback to a freshly started node taking a few ms longer
 * at each Raft step than a switchover between two running ones. Three
 * throwaway cores elect a leader, replicate, hand leadership over and
 * replicate again; nothing leaves this function (no I/O, a fixed seed).
 * `relay` carries each round's messages from sender to receiver: the agent
 * passes them through the peer transport's codec, which a follower has
 * never used for a vote, a vote answer or a leader's append either.
 */
import { assert } from '../util/assert.js';
import { xorshift32 } from '../util/xorshift.js';
import { Raft } from './raft.js';
import { DEFAULT_LIMITS, type Membership, type Message, type NodeId } from './types.js';

const IDS: readonly NodeId[] = ['warm-a', 'warm-b', 'warm-c'];
const PROPOSALS = 50;

export interface WarmUpResult {
  readonly leader: NodeId | null;
  /** Entries each core was handed to apply, in IDS order. */
  readonly applied: readonly number[];
}

export function warmUpRaftCore(relay: (messages: Message[]) => readonly Message[] = (messages) => messages): WarmUpResult {
  const random = xorshift32(1);
  const membership: Membership = { voters: IDS.map((id) => ({ id, kind: 'data', peer: `${id}:0` })), learners: [] };
  const nodes = new Map(
    IDS.map((id) => [
      id,
      new Raft(
        { id, electionTicks: 10, heartbeatTicks: 1, random, limits: DEFAULT_LIMITS },
        { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], bootstrap: membership },
      ),
    ]),
  );
  const payload = new Uint8Array(64);
  const applied = new Map<NodeId, number>(IDS.map((id) => [id, 0]));
  const pump = (): void => {
    // Bounded: a handful of rounds settles each step; the bound only guards against a bug looping forever.
    for (let round = 0; round < 100; round++) {
      const outbox: Message[] = [];
      for (const [id, node] of nodes) {
        if (!node.hasReady()) continue;
        const rd = node.ready();
        outbox.push(...rd.messages);
        applied.set(id, (applied.get(id) ?? 0) + rd.committed.length);
        node.advance(rd);
      }
      if (outbox.length === 0) return;
      for (const m of relay(outbox)) nodes.get(m.to)?.step(m);
    }
    assert(false, 'warm-up: the in-memory cores did not settle within 100 rounds');
  };
  const leader = (): Raft | undefined => [...nodes.values()].find((n) => n.status().role === 'leader');
  const replicate = (): void => {
    for (let i = 0; i < PROPOSALS; i++) {
      leader()?.propose(payload);
      pump();
    }
    for (const node of nodes.values()) node.tick();
    pump();
  };

  nodes.get('warm-a')?.campaign();
  pump();
  replicate();
  leader()?.transferLeadership('warm-b');
  pump();
  replicate();
  return { leader: leader()?.status().id ?? null, applied: IDS.map((id) => applied.get(id) ?? 0) };
}
