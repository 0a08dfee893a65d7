import t from 'tap';
import { PROMOTE_MAX_LAG_ENTRIES } from '../../src/raft/membership.js';
import { Raft } from '../../src/raft/raft.js';
import { DEFAULT_LIMITS, type Entry, type InitialState } from '../../src/raft/types.js';
import { Cluster, initialWithLog, member, membershipOf, seededRandom } from './harness.js';

const ids = (xs: readonly { id: string }[]): string[] => xs.map((x) => x.id).sort();

t.test('a learner replicates and applies, but never votes, campaigns or counts for commit', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['l'] });
  c.tick('l', 10 * c.electionTicks);
  t.equal(c.raft('l').status().role, 'follower', 'a learner never campaigns');
  t.same(c.take((m) => m.from === 'l'), []);
  c.elect('a');
  c.propose('a', 'x');
  c.settle();
  t.same(c.appliedTexts('l'), ['x'], 'the learner applies');
  t.equal(c.raft('a').status().progress.l?.learner, true);
  c.crash('b');
  c.crash('c');
  const before = c.raft('a').status().commit;
  c.propose('a', 'y');
  c.stabilize();
  t.equal(c.raft('l').status().lastIndex, before + 1, 'the learner has the entry');
  t.equal(c.raft('a').status().commit, before, 'but its acknowledgement does not commit it');
  t.end();
});

t.test('join path: a fresh node is added as a learner, catches up from nothing, then is promoted to voter', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.propose('a', `e${i}`);
  c.stabilize();
  c.addJoiner('x');
  t.equal(c.raft('x').status().kind, null, 'x is not a member yet');
  const r = c.raft('a').proposeMembership({ op: 'addLearner', member: member('x') });
  t.ok(r.ok);
  t.match(c.raft('a').proposeMembership({ op: 'addLearner', member: member('y') }), { ok: false, refusal: { code: 'MEMBERSHIP_CHANGE_PENDING' } }, 'one change at a time');
  c.stabilize();
  const sx = c.raft('x').status();
  t.same(ids(sx.membership.learners), ['x'], 'x learned the membership from the log');
  t.same(ids(sx.membership.voters), ['a', 'b', 'c']);
  t.same(c.appliedTexts('x'), ['e0', 'e1', 'e2', 'e3', 'e4']);
  t.equal(sx.lastIndex, c.raft('a').status().lastIndex);
  t.ok(c.raft('a').proposeMembership({ op: 'promote', id: 'x' }).ok);
  c.settle();
  for (const id of ['a', 'b', 'c', 'x']) t.same(ids(c.raft(id).status().membership.voters), ['a', 'b', 'c', 'x'], `${id} sees x as a voter`);
  // x now counts: with a and b down, c and x alone (2 of 4) cannot commit; with b back they can.
  c.crash('a');
  c.tickAll(4 * c.electionTicks);
  const leaders = c.leaders();
  t.equal(leaders.length, 1, 'b, c and x elect a leader (3 of 4)');
  t.end();
});

t.test('promote is refused for a lagging learner, a voter, or an unknown node', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['l'] });
  c.elect('a');
  c.isolate('l');
  for (let i = 0; i <= PROMOTE_MAX_LAG_ENTRIES; i++) c.propose('a', `p${i}`);
  c.stabilize();
  t.match(c.raft('a').proposeMembership({ op: 'promote', id: 'l' }), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /behind/ } });
  t.match(c.raft('a').proposeMembership({ op: 'promote', id: 'b' }), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /not a learner/ } });
  t.match(c.raft('a').proposeMembership({ op: 'remove', id: 'zz' }), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /not a member/ } });
  t.match(c.raft('a').proposeMembership({ op: 'addLearner', member: member('b') }), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /already/ } });
  t.match(c.raft('b').proposeMembership({ op: 'remove', id: 'c' }), { ok: false, refusal: { code: 'NOT_LEADER', leader: 'a' } });
  c.heal();
  c.tickAll(3);
  t.match(c.raft('a').proposeMembership({ op: 'promote', id: 'l' }), { ok: true }, 'accepted once caught up');
  t.end();
});

t.test('a new leader refuses membership changes until its noop (and so every earlier entry) commits', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.raft('a').campaign();
  // Deliver only the election, not the noop's acknowledgements.
  c.filter = (m) => m.type !== 'appendResponse';
  c.stabilize();
  t.equal(c.raft('a').status().role, 'leader');
  t.match(c.raft('a').proposeMembership({ op: 'remove', id: 'c' }), { ok: false, refusal: { code: 'MEMBERSHIP_CHANGE_PENDING' } });
  c.filter = () => true;
  c.tickAll(2);
  t.match(c.raft('a').proposeMembership({ op: 'remove', id: 'c' }), { ok: true });
  t.end();
});

t.test('removing a voter: effective when committed; the removed node never campaigns again', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const r = c.raft('a').proposeMembership({ op: 'remove', id: 'c' });
  t.ok(r.ok);
  t.same(ids(c.raft('a').status().membership.voters), ['a', 'b', 'c'], 'not effective before commit');
  c.stabilize();
  t.same(ids(c.raft('a').status().membership.voters), ['a', 'b']);
  t.same(ids(c.raft('c').status().membership.voters), ['a', 'b'], 'c learned its removal');
  t.equal(c.raft('a').status().progress.c, undefined, 'the leader stopped tracking c');
  c.crash('a');
  const term = c.raft('c').status().term;
  c.tick('c', 10 * c.electionTicks);
  t.equal(c.raft('c').status().term, term, 'c does not campaign');
  t.same(c.take((m) => m.from === 'c'), []);
  // b alone is now a quorum of {a, b}? No: 1 of 2. Bring a back and b or a leads.
  c.restart('a');
  c.tickAll(4 * c.electionTicks);
  t.equal(c.leaders().filter((id) => id !== 'c').length, 1);
  t.end();
});

t.test('a leader that removes itself leads until the change commits, then hands over and steps down', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  t.ok(c.raft('a').proposeMembership({ op: 'remove', id: 'a' }).ok);
  c.stabilize();
  const sa = c.raft('a').status();
  t.equal(sa.role, 'follower');
  t.equal(sa.kind, null);
  const leaders = c.leaders();
  t.equal(leaders.length, 1, 'an heir was elected at once through TimeoutNow');
  t.ok(leaders[0] === 'b' || leaders[0] === 'c');
  c.propose(leaders[0] as string, 'after');
  c.settle();
  t.same(c.appliedTexts(leaders[0] === 'b' ? 'c' : 'b'), ['after']);
  t.end();
});

t.test('removing the last data voter is refused', (t) => {
  const c = new Cluster({ voters: ['a', 'w'], witnesses: ['w'] });
  c.elect('a');
  t.match(c.raft('a').proposeMembership({ op: 'remove', id: 'a' }), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /no data node/ } });
  t.end();
});

// A node whose commit index lags two membership changes must not win with a
// quorum of its old configuration: {a, b, c} -> +d -> +e, both committed
// elsewhere, but a only knows {a, b, c} is in force. {a, b} is a majority of
// {a, b, c} and nothing else; winning with it could elect a second leader
// beside one that commits with {c, d, e} (etcd-io/etcd#7625, etcd-io/raft#456).
t.test('quorums count every configuration from the committed one to the newest in the log', (t) => {
  const base = membershipOf(['a', 'b', 'c']);
  const changes = [
    { index: 1, term: 1, payload: { type: 'membership' as const, change: { op: 'addLearner' as const, member: member('d') } } },
    { index: 2, term: 1, payload: { type: 'membership' as const, change: { op: 'promote' as const, id: 'd' } } },
    { index: 3, term: 1, payload: { type: 'membership' as const, change: { op: 'addLearner' as const, member: member('e') } } },
    { index: 4, term: 1, payload: { type: 'membership' as const, change: { op: 'promote' as const, id: 'e' } } },
  ];
  const c = new Cluster({
    voters: ['a', 'b', 'c'],
    initial: {
      a: initialWithLog(1, changes, base, 0),
      b: initialWithLog(1, [], base, 0),
      c: initialWithLog(1, changes, base, 0),
    },
  });
  for (let i = 0; i < c.electionTicks; i++) for (const n of c.nodes.values()) n.raft.tick();
  c.take();
  t.same(ids(c.raft('a').status().membership.voters), ['a', 'b', 'c'], 'a only knows {a, b, c} is in force');
  let bGranted = false;
  c.filter = (m) => {
    if (m.from === 'b' && m.type === 'preVoteResponse' && m.granted) bGranted = true;
    return m.from !== 'c' && m.to !== 'c';
  };
  c.raft('a').campaign();
  c.stabilize();
  t.ok(bGranted, 'b granted its PreVote');
  t.not(c.raft('a').status().role, 'leader', '{a, b} is not a majority of {a, b, c, d} or {a, b, c, d, e}');
  t.not(c.raft('a').status().role, 'candidate', 'not even past PreVote');
  // With c (which holds the same log), a has majorities of all three: it wins.
  c.filter = () => true;
  c.raft('a').campaign();
  c.stabilize();
  t.equal(c.raft('a').status().role, 'leader');
  t.same(ids(c.raft('a').status().membership.voters), ['a', 'b', 'c', 'd', 'e'], 'its noop committed both changes');
  t.end();
});

t.test('isRemoved: only a node a committed membership listed, once the committed one does not', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  t.same(['a', 'b', 'c'].map((id) => c.raft(id).isRemoved()), [false, false, false]);
  t.ok(c.raft('a').proposeMembership({ op: 'remove', id: 'c' }).ok);
  t.equal(c.raft('c').isRemoved(), false, 'not before the removal commits');
  c.stabilize();
  t.equal(c.raft('c').isRemoved(), true, 'c applied its removal');
  t.same(['a', 'b'].map((id) => c.raft(id).isRemoved()), [false, false]);
  c.restart('c');
  t.equal(c.raft('c').isRemoved(), true, 'restarted from a store whose commit covers the removal');

  const joiner = c.addJoiner('x');
  t.equal(joiner.raft.isRemoved(), false, 'a node waiting to join was never listed');
  t.end();
});

t.test('isRemoved after a restart counts only committed memberships: a crash part-way through a join is not a removal', (t) => {
  const start = (initial: InitialState): Raft =>
    new Raft({ id: 'x', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(1), limits: DEFAULT_LIMITS }, initial);
  const without = membershipOf(['a', 'b', 'c']);
  const addX: Entry = { index: 1, term: 1, payload: { type: 'membership', change: { op: 'addLearner', member: member('x') } } };
  const removeX: Entry = { index: 2, term: 1, payload: { type: 'membership', change: { op: 'remove', id: 'x' } } };
  t.equal(start(initialWithLog(1, [], without)).isRemoved(), false, 'a snapshot from before it was added');
  t.equal(start(initialWithLog(1, [addX], without, 0)).isRemoved(), false, 'its addLearner stored but not known committed');
  t.equal(start(initialWithLog(1, [addX], without, 1)).isRemoved(), false, 'added and committed: a member');
  t.equal(start(initialWithLog(1, [addX, removeX], without, 1)).isRemoved(), false, 'the removal stored but not known committed');
  t.equal(start(initialWithLog(1, [addX, removeX], without, 2)).isRemoved(), true, 'added, then removed, both committed');
  t.end();
});
