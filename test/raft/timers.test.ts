/**
 * Timers changed on a running core (Raft.setTimers): the election timeout,
 * the vote refusal window and the per-voter lease counting take effect
 * without a restart (docs/raft-timing.md, "Changing the timers live").
 */
import t from 'tap';
import { Raft, RaftConfigError } from '../../src/raft/raft.js';
import { DEFAULT_LIMITS, type Message } from '../../src/raft/types.js';
import { Cluster, MemStore, membershipOf, seededRandom } from './harness.js';

t.test('a new election timeout applies to the next campaign', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const store = new MemStore();
    const r = new Raft({ id: 'a', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(seed), limits: DEFAULT_LIMITS }, store.initial(membershipOf(['a', 'b', 'c'])));
    r.setTimers({ electionTicks: 40, heartbeatTicks: 4 });
    t.same(r.status().timers, { electionTicks: 40, heartbeatTicks: 4, voteRefusalTicks: 40 });
    let ticks = 0;
    while (r.status().role === 'follower' && ticks < 200) {
      r.tick();
      ticks++;
    }
    t.ok(ticks >= 40 && ticks < 80, `seed ${seed}: campaign after ${ticks} ticks, in [40, 80)`);
  }
  t.end();
});

t.test('the leader sends heartbeats at the new interval', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1 });
  c.elect('a');
  c.raft('a').setTimers({ electionTicks: 30, heartbeatTicks: 5 });
  c.take();
  const heartbeats: number[] = [];
  for (let i = 1; i <= 10; i++) {
    c.tick('a', 1);
    if (c.take((m) => m.type === 'heartbeat' && m.to === 'b').length > 0) heartbeats.push(i);
    c.raft('a').step({ type: 'heartbeatResponse', from: 'b', to: 'a', term: c.raft('a').status().term, sentTick: c.raft('a').status().tick, readCtx: null });
    c.take();
  }
  t.same(heartbeats, [5, 10], 'one heartbeat every 5 ticks');
  t.end();
});

t.test('vote refusal follows voteRefusalTicks, not the election timeout', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1 });
  c.elect('a');
  c.crash('a');
  const b = c.raft('b');
  b.setTimers({ electionTicks: 10, heartbeatTicks: 1, voteRefusalTicks: 25 });
  const term = b.status().term;
  const preVote: Message = { type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term };
  // b's own timeout is 10-19 ticks, but its own PreVote obeys the refusal window too.
  for (let i = 0; i < 24; i++) {
    c.tick('b', 1);
    c.take();
    t.not(b.status().role, 'candidate', `no candidacy ${i + 1} ticks after the leader`);
  }
  b.step(preVote);
  t.same(c.take((m) => m.from === 'b' && m.type === 'preVoteResponse'), [], 'refused at 24 ticks');
  c.tick('b', 1);
  c.take();
  if (b.status().role === 'follower') {
    b.step(preVote);
    t.match(c.take((m) => m.from === 'b' && m.type === 'preVoteResponse'), [{ granted: true }], 'granted at 25 ticks');
  } else {
    t.equal(b.status().role, 'pre-candidate', 'b campaigned itself once the window ended');
  }
  t.end();
});

t.test('the lease counts each voter for its own window', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2 });
  c.elect('a');
  const a = c.raft('a');
  t.equal(a.status().leaseRemainingTicks, 9, 'same timers everywhere: sent at 0, 0 + 10 - 1 - 0');
  // b is known to refuse for 30 ticks, c for 5, a itself for 20.
  a.setTimers({ electionTicks: 10, heartbeatTicks: 2, voteRefusalTicks: 20, leaseTicks: { self: 20, peers: { b: 30, c: 5 }, otherPeers: 0 } });
  t.equal(a.status().leaseRemainingTicks, 19, 'a quorum of {a until 20, b until 30, c until 5}: 20 - 1');
  a.setTimers({ electionTicks: 10, heartbeatTicks: 2, voteRefusalTicks: 20, leaseTicks: { self: 3, peers: { b: 30, c: 5 }, otherPeers: 0 } });
  t.equal(a.status().leaseRemainingTicks, 4, 'a until 3, b until 30, c until 5: the quorum holds until 5');
  a.setTimers({ electionTicks: 10, heartbeatTicks: 2, voteRefusalTicks: 20, leaseTicks: { self: 20, peers: {}, otherPeers: 0 } });
  t.equal(a.status().leaseRemainingTicks, 0, 'voters of unknown window do not extend the lease');
  a.setTimers({ electionTicks: 10, heartbeatTicks: 2 });
  t.equal(a.status().leaseRemainingTicks, 9, 'without leaseTicks every voter counts electionTicks again');
  t.end();
});

t.test('a restarted node refuses votes for its vote refusal window', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1 });
  c.elect('a');
  const b = c.node('b');
  const restarted = new Raft(
    { id: 'b', electionTicks: 10, heartbeatTicks: 1, voteRefusalTicks: 30, random: seededRandom(3), limits: DEFAULT_LIMITS },
    b.store.initial(null),
  );
  const term = restarted.status().term;
  const preVote: Message = { type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term };
  for (let i = 0; i < 29; i++) restarted.tick();
  restarted.step(preVote);
  const refused = drainMessages(restarted).filter((m) => m.type === 'preVoteResponse');
  t.same(refused, [], 'refused 29 ticks after the restart');
  restarted.tick();
  restarted.step(preVote);
  t.match(drainMessages(restarted).filter((m) => m.type === 'preVoteResponse'), [{ granted: true }], 'granted at 30');
  t.end();
});

t.test('bad timers are refused with the field named', (t) => {
  const c = new Cluster({ voters: ['a'] });
  const a = c.raft('a');
  t.throws(() => a.setTimers({ electionTicks: 3, heartbeatTicks: 2 }), new RaftConfigError('electionTicks (3) must be at least 2 * heartbeatTicks (2)'));
  t.throws(() => a.setTimers({ electionTicks: 10, heartbeatTicks: 0 }), { message: 'heartbeatTicks must be a positive integer, got 0' });
  t.throws(
    () => a.setTimers({ electionTicks: 10, heartbeatTicks: 1, voteRefusalTicks: 10, leaseTicks: { self: 11, peers: {}, otherPeers: 0 } }),
    { message: 'leaseTicks.self (11) must not exceed voteRefusalTicks (10)' },
  );
  t.throws(() => a.setTimers({ electionTicks: 10, heartbeatTicks: 1, leaseTicks: { self: 1, peers: { b: -1 }, otherPeers: 0 } }), {
    message: 'leaseTicks.peers.b must be an integer >= 0, got -1',
  });
  t.same(a.status().timers, { electionTicks: 10, heartbeatTicks: 1, voteRefusalTicks: 10 }, 'a refused change changes nothing');
  t.end();
});

t.test('a shorter election timeout ends a transfer that has outlived it', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 20, heartbeatTicks: 1 });
  c.elect('a');
  const a = c.raft('a');
  // b is cut off behind: the transfer waits for it to catch up.
  c.filter = (m) => m.to !== 'b';
  c.propose('a', 'b-lacks-this');
  c.stabilize();
  t.ok(a.transferLeadership('b').ok);
  for (let i = 0; i < 12; i++) {
    c.tick('a', 1);
    c.stabilize();
  }
  t.equal(a.status().transferee, 'b', 'the transfer is still under way after 12 ticks');
  a.setTimers({ electionTicks: 10, heartbeatTicks: 1 });
  t.equal(a.status().transferee, null, 'its time (10 ticks) is over under the new timeout');
  a.checkInvariants();
  t.end();
});

function drainMessages(r: Raft): Message[] {
  const out: Message[] = [];
  while (r.hasReady()) {
    const rd = r.ready();
    out.push(...rd.messages);
    r.advance(rd);
  }
  return out;
}
