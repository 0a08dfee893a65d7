import t from 'tap';
import { Cluster } from './harness.js';

t.test('ReadIndex on the leader: answered with the commit index once a quorum acknowledged a heartbeat round', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.propose('a', 'x');
  c.stabilize();
  const commit = c.raft('a').status().commit;
  c.raft('a').readIndex('r1');
  c.drainAll();
  t.same(c.node('a').readStates, [], 'not before the round is acknowledged');
  const round = c.outbox.filter((m) => m.type === 'heartbeat');
  t.equal(round.length, 2);
  t.ok(round.every((m) => m.type === 'heartbeat' && m.readCtx !== null), 'the round carries a read context');
  // One acknowledgement (plus the leader itself) is a quorum.
  c.filter = (m) => m.from !== 'c' && m.to !== 'c';
  c.stabilize();
  t.same(c.node('a').readStates, [{ ctx: 'r1', index: commit }]);
  t.end();
});

t.test('ReadIndex is never confirmed without a quorum, and fails (-1) when the leader steps down', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.isolate('a');
  c.raft('a').readIndex('r1');
  c.stabilize();
  t.same(c.node('a').readStates, []);
  c.tickAll(2 * c.electionTicks);
  t.not(c.raft('a').status().role, 'leader');
  t.same(c.node('a').readStates, [{ ctx: 'r1', index: -1 }]);
  t.end();
});

t.test('ReadIndex is refused until the leader has committed an entry of its term', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.raft('a').campaign();
  c.filter = (m) => m.type !== 'appendResponse';
  c.stabilize();
  t.equal(c.raft('a').status().role, 'leader');
  c.raft('a').readIndex('early');
  c.drainAll();
  t.same(c.node('a').readStates, [{ ctx: 'early', index: -1 }]);
  t.end();
});

t.test('ReadIndex via a follower: forwarded to the leader, answered to the follower', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.propose('a', 'x');
  c.stabilize();
  const commit = c.raft('a').status().commit;
  c.raft('b').readIndex('rb');
  c.drainAll();
  t.match(c.outbox, [{ type: 'readIndex', from: 'b', to: 'a', ctx: 'rb' }]);
  c.stabilize();
  t.same(c.node('b').readStates, [{ ctx: 'rb', index: commit }]);
  t.same(c.node('a').readStates, [], 'the leader does not keep it');
  t.end();
});

t.test('ReadIndex with no known leader fails at once', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.raft('b').readIndex('nobody');
  c.drainAll();
  t.same(c.node('b').readStates, [{ ctx: 'nobody', index: -1 }]);
  t.end();
});

t.test('ReadIndex on a single node is immediate', (t) => {
  const c = new Cluster({ voters: ['a'] });
  c.elect('a');
  c.raft('a').readIndex('solo');
  c.drainAll();
  t.same(c.node('a').readStates, [{ ctx: 'solo', index: 3 }]);
  t.end();
});

t.test('the pending read queue is bounded: beyond it reads fail at once', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.isolate('a');
  for (let i = 0; i < 1025; i++) c.raft('a').readIndex(`r${i}`);
  c.take();
  c.drainAll();
  t.same(c.node('a').readStates, [{ ctx: 'r1024', index: -1 }]);
  t.end();
});

t.test('acknowledging a later round confirms every earlier pending read', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.raft('a').readIndex('r1');
  c.take(); // the first round is lost
  c.raft('a').readIndex('r2');
  c.stabilize();
  t.same(
    c.node('a').readStates.map((r) => r.ctx),
    ['r1', 'r2'],
  );
  t.end();
});
