import t from 'tap';
import { Raft } from '../../src/raft/raft.js';
import { DEFAULT_LIMITS } from '../../src/raft/types.js';
import { Cluster, ent, membershipOf, seededRandom } from './harness.js';

t.test('a fresh bootstrapped node writes its membership into the log as committed term-1 entries', (t) => {
  const r = new Raft(
    { id: 'a', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(1), limits: DEFAULT_LIMITS },
    { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], bootstrap: membershipOf(['a', 'b'], { learners: ['l'] }) },
  );
  t.ok(r.hasReady());
  const rd = r.ready();
  t.same(rd.hardState, { term: 1, vote: null, commit: 5 });
  t.same(
    rd.entries.map((e) => (e.payload.type === 'membership' ? e.payload.change.op : e.payload.type)),
    ['addLearner', 'promote', 'addLearner', 'promote', 'addLearner'],
  );
  t.equal(rd.committed.length, 5);
  t.ok(rd.mustSync);
  r.advance(rd);
  t.notOk(r.hasReady());
  t.same(
    r.status().membership.voters.map((v) => v.id),
    ['a', 'b'],
  );
  t.end();
});

t.test('restart of the whole cluster from InitialState: term, vote, log, commit and membership survive', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.settle();
  const before = c.raft('b').status();
  for (const id of ['a', 'b', 'c']) c.crash(id);
  for (const id of ['a', 'b', 'c']) c.restart(id);
  const after = c.raft('b').status();
  t.equal(after.term, before.term);
  t.equal(after.vote, 'a');
  t.equal(after.lastIndex, before.lastIndex);
  t.equal(after.role, 'follower');
  t.same(after.membership, before.membership, 'membership rebuilt from the log');
  t.equal(c.node('b').appliedIndex, after.commit, 'committed entries handed out again from the start');
  t.same(c.appliedTexts('b'), ['x0', 'x1', 'x2', 'x3', 'x4']);
  c.tickAll(4 * c.electionTicks);
  t.equal(c.leaders().length, 1, 'a leader is elected again');
  const leader = c.leaders()[0] as string;
  c.propose(leader, 'y');
  c.settle();
  t.same(c.appliedTexts('c'), ['x0', 'x1', 'x2', 'x3', 'x4', 'y']);
  t.end();
});

t.test('restart from a snapshot plus the entries after it', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.settle();
  const n = c.node('b');
  const data = new Uint8Array([1, 2, 3]);
  n.raft.compact(9, data);
  const s = n.raft.status();
  n.store.compact({ meta: { index: 9, term: s.snapshotTerm, membership: s.snapshotMembership }, data });
  c.crash('b');
  c.restart('b');
  const r = c.raft('b').status();
  t.equal(r.snapshotIndex, 9);
  t.equal(r.firstIndex, 10);
  t.equal(r.lastIndex, 12);
  t.equal(r.applied, 12, 'entries after the snapshot re-applied');
  t.same(c.appliedTexts('b'), ['x0', 'x1', 'x2', 'x3', 'x4'], 'x0..x2 from the snapshot state, x3 and x4 applied again');
  t.same(r.membership, c.bootstrap);
  t.end();
});

t.test('restart drops a stored suffix that cannot follow the snapshot (a conflicting log left by an install)', (t) => {
  const m = membershipOf(['a', 'b']);
  const r = new Raft(
    { id: 'b', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(2), limits: DEFAULT_LIMITS },
    {
      hardState: { term: 5, vote: null, commit: 10 },
      snapshot: { meta: { index: 10, term: 5, membership: m }, data: new Uint8Array(0) },
      entries: [ent(11, 3), ent(12, 3)],
      bootstrap: null,
    },
  );
  r.checkInvariants();
  t.equal(r.status().lastIndex, 10);
  t.end();
});

t.test('config validation names the bad setting', (t) => {
  const base = { id: 'a', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(3), limits: DEFAULT_LIMITS };
  const init = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], bootstrap: null };
  t.throws(() => new Raft({ ...base, electionTicks: 0 }, init), { name: 'RaftConfigError', message: /electionTicks/ });
  t.throws(() => new Raft({ ...base, heartbeatTicks: 6 }, init), { name: 'RaftConfigError', message: /2 \* heartbeatTicks/ });
  t.throws(() => new Raft({ ...base, limits: { ...DEFAULT_LIMITS, maxInflightAppends: 0 } }, init), { message: /maxInflightAppends/ });
  t.end();
});

t.test('ready/advance contract: ready() twice without advance asserts; advance of a foreign Ready asserts', (t) => {
  const c = new Cluster({ voters: ['a'] });
  const r = c.raft('a');
  c.tick('a', 20);
  r.propose(new Uint8Array(1));
  const rd = r.ready();
  t.notOk(r.hasReady(), 'nothing more until advance');
  t.throws(() => r.ready(), /before advance/);
  t.throws(() => r.advance({ ...rd }), /last ready/);
  r.advance(rd);
  t.end();
});

t.test('entries appended while a Ready is being persisted are not marked stable by it', (t) => {
  const c = new Cluster({ voters: ['a', 'b'] });
  c.elect('a');
  const a = c.raft('a');
  a.propose(new Uint8Array([1]));
  const rd1 = a.ready();
  a.propose(new Uint8Array([2]));
  a.advance(rd1);
  const rd2 = a.ready();
  t.same(
    rd2.entries.map((e) => e.index),
    [(rd1.entries[0]?.index ?? 0) + 1],
  );
  a.advance(rd2);
  t.end();
});
