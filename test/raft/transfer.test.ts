import t, { type Test } from 'tap';
import type { Message } from '../../src/raft/types.js';
import { messagesBeforeWrite } from '../../src/node/raft-node.js';
import { Cluster } from './harness.js';

t.test('leadership transfer: the leader brings the target up to date, then TimeoutNow makes it win at once', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const term = c.raft('a').status().term;
  // b is behind by a few entries when the transfer starts.
  c.filter = (m) => m.to !== 'b';
  for (let i = 0; i < 3; i++) c.propose('a', `t${i}`);
  c.stabilize();
  c.filter = () => true;
  t.ok(c.raft('b').status().lastIndex < c.raft('a').status().lastIndex, 'b lags');
  const r = c.raft('a').transferLeadership('b');
  t.match(r, { ok: true, index: c.raft('a').status().lastIndex, term });
  t.equal(c.raft('a').status().transferee, 'b');
  let sawTimeoutNowAfterCatchUp = false;
  c.filter = (m) => {
    if (m.type === 'timeoutNow') sawTimeoutNowAfterCatchUp = c.raft('b').status().lastIndex === c.raft('a').status().lastIndex;
    return true;
  };
  c.stabilize();
  t.ok(sawTimeoutNowAfterCatchUp, 'TimeoutNow only once b held everything');
  t.equal(c.raft('b').status().role, 'leader');
  t.equal(c.raft('b').status().term, term + 1, 'no PreVote round: straight to term+1');
  t.equal(c.raft('a').status().role, 'follower');
  t.equal(c.raft('a').status().leader, 'b');
  t.same(c.leaders(), ['b']);
  c.propose('b', 'after');
  c.settle();
  t.same(c.appliedTexts('a'), ['t0', 't1', 't2', 'after']);
  t.end();
});

t.test('a target that never catches up: the transfer is abandoned after electionTicks and the leader keeps leading', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.crash('b');
  c.propose('a', 'b-lacks-this');
  c.stabilize();
  t.ok(c.raft('a').transferLeadership('b').ok);
  t.match(c.raft('a').transferLeadership('c'), { ok: false, refusal: { code: 'TRANSFER_IN_PROGRESS' } });
  t.match(c.raft('a').propose(new Uint8Array(1)), { ok: false, refusal: { code: 'TRANSFER_IN_PROGRESS' } });
  c.tickAll(c.electionTicks - 1);
  t.equal(c.raft('a').status().transferee, 'b', 'still trying');
  c.tickAll(1);
  t.equal(c.raft('a').status().transferee, null, 'aborted');
  t.equal(c.raft('a').status().role, 'leader', 'a keeps leading (c answers)');
  t.match(c.raft('a').propose(new Uint8Array(1)), { ok: true }, 'proposals accepted again');
  t.end();
});

t.test('the leader votes for the target in the next term and steps down before its TimeoutNow leaves; the target leads on its own vote', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const term = c.raft('a').status().term;
  t.ok(c.raft('a').transferLeadership('b').ok);
  t.match(c.raft('a').status(), { role: 'follower', term: term + 1, vote: 'b', leader: null, leaseRemainingTicks: 0 });
  t.match(c.raft('a').propose(new Uint8Array(1)), { ok: false, refusal: { code: 'NOT_LEADER', leader: null } });
  const rd = c.raft('a').ready();
  t.match(rd.hardState, { term: term + 1, vote: 'b' }, 'the vote is in the Ready that carries the TimeoutNow');
  t.ok(rd.mustSync, 'and is written with sync');
  const split = messagesBeforeWrite(rd, c.raft('a').isLeader(), c.node('a').store.hardState);
  t.same(split.now, [], 'nothing leaves before the write (RaftNode and the simulator split it so)');
  t.same(rd.messages.map((m) => m.type), ['timeoutNow']);
  t.match(rd.messages[0], { to: 'b', term, vote: true }, 'sent in the term of the leader that hands over');
  c.raft('a').advance(rd);
  c.raft('b').step(rd.messages[0] as Message);
  c.drain('b', 1);
  t.equal(c.raft('b').status().role, 'leader', "b leads once its own vote is written: a's and its own make a majority");
  t.equal(c.raft('b').status().term, term + 1);
  t.same(
    c.take((m) => m.type === 'vote').map((m) => m.to).sort(),
    ['a', 'c'],
    'its vote requests went out all the same (the answers are the first word it has from them)',
  );
  c.propose('b', 'after');
  c.settle();
  t.same(c.leaders(), ['b']);
  t.same(c.appliedTexts('c'), ['after']);
  t.end();
});

/** Five voters; c leads after a transfer from a, and only b has answered c's noop (its commit is behind). */
function leaderWithNothingCommitted(t: Test): Cluster {
  const c = new Cluster({ voters: ['a', 'b', 'c', 'd', 'e'] });
  c.elect('a');
  c.settle();
  c.filter = (m) => !(m.type === 'appendResponse' && m.to === 'c' && m.from !== 'b');
  t.ok(c.raft('a').transferLeadership('c').ok);
  c.stabilize();
  return c;
}

t.test('a leader that has committed nothing of its term hands over without its vote, and keeps leading meanwhile', (t) => {
  // Its commit index may be behind the target's: its vote could be spent on a target that will not campaign.
  const c = leaderWithNothingCommitted(t);
  t.same(c.leaders(), ['c']);
  const s = c.raft('c').status();
  t.ok(s.commit < s.termStartIndex, "c's noop is not committed: only b has answered it");
  t.equal(s.progress.b?.match, s.lastIndex);
  t.ok(c.raft('c').transferLeadership('b').ok);
  const toB = c.take((m) => m.type === 'timeoutNow');
  t.match(toB, [{ type: 'timeoutNow', from: 'c', to: 'b', term: s.term, vote: false }]);
  t.match(c.raft('c').status(), { role: 'leader', term: s.term, transferee: 'b', leaseRemainingTicks: 0 }, 'c still leads, waiting for the transfer, with no lease');
  c.filter = (m) => m.type !== 'timeoutNow';
  c.tickAll(2);
  t.match(c.raft('c').status(), { role: 'leader', transferee: 'b', leaseRemainingTicks: 0 }, 'heartbeats acked after the TimeoutNow do not restore the lease in this term');
  c.filter = () => true;
  for (const m of toB) c.raft('b').step(m);
  c.stabilize();
  t.same(c.leaders(), ['b'], 'b won by asking for votes');
  t.end();
});

t.test('a TimeoutNow without a vote (from an older node) still elects its target through vote requests', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const term = c.raft('a').status().term;
  c.raft('b').step({ type: 'timeoutNow', from: 'a', to: 'b', term, vote: false });
  const votes = c.take((m) => m.type === 'vote');
  t.same(votes.map((m) => m.to).sort(), ['a', 'c']);
  for (const m of votes) c.raft(m.to).step(m);
  c.stabilize();
  t.same(c.leaders(), ['b']);
  t.equal(c.raft('b').status().term, term + 1);
  t.end();
});

t.test('a target that never campaigns: the old leader has voted for it, so the next election settles who leads', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const term = c.raft('a').status().term;
  c.crash('b');
  t.ok(c.raft('a').transferLeadership('b').ok, 'b was up to date when it crashed: the TimeoutNow goes at once');
  t.same(c.leaders(), []);
  let ticks = 0;
  while (c.leaders().length === 0 && ticks < 4 * c.electionTicks) {
    c.tickAll(1);
    ticks++;
  }
  t.ok(ticks >= c.electionTicks, `no one leads before an election timeout (${ticks} ticks)`);
  t.equal(c.leaders().length, 1);
  t.ok(c.raft(c.leaders()[0] as string).status().term >= term + 2, 'in a later term than the one a voted in');
  t.end();
});

t.test('transfer refusals: not leader, not a voter, a witness; to self is a no-op', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'w'], witnesses: ['w'], learners: ['l'] });
  c.elect('a');
  t.match(c.raft('b').transferLeadership('b'), { ok: false, refusal: { code: 'NOT_LEADER', leader: 'a' } });
  t.match(c.raft('a').transferLeadership('l'), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE' } });
  t.match(c.raft('a').transferLeadership('zz'), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE' } });
  t.match(c.raft('a').transferLeadership('w'), { ok: false, refusal: { code: 'INVALID_MEMBERSHIP_CHANGE', reason: /witness/ } });
  t.match(c.raft('a').transferLeadership('a'), { ok: true });
  t.equal(c.raft('a').status().transferee, null);
  t.end();
});

t.test('TimeoutNow from a node that is not our leader is ignored', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const term = c.raft('b').status().term;
  c.raft('b').step({ type: 'timeoutNow', from: 'c', to: 'b', term, vote: true });
  t.equal(c.raft('b').status().role, 'follower');
  t.equal(c.raft('b').status().term, term);
  t.end();
});

t.test('the TimeoutNow follows an append carrying the commit index: the target campaigns having applied everything committed', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const intent = c.propose('a', 'intent');
  c.stabilize();
  t.equal(c.raft('a').status().commit, intent.index);
  t.ok(c.raft('b').status().commit < intent.index, 'b has the entry but has not learned that it committed');
  t.ok(c.raft('a').transferLeadership('b').ok);
  const toB = c.take((m) => m.to === 'b');
  t.same(
    toB.map((m) => (m.type === 'append' ? `append commit ${m.commit}` : m.type)),
    [`append commit ${intent.index}`, 'timeoutNow'],
  );
  for (const m of toB) c.raft('b').step(m);
  c.drain('b');
  t.same(c.appliedTexts('b'), ['intent'], 'applied before its election ends');
  c.stabilize();
  t.same(c.leaders(), ['b']);
  t.end();
});


t.test('reelect: a leader stands again in the next term; voters grant it inside their lease, and it leads with a lease again', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const term = c.raft('a').status().term;
  t.ok(c.raft('b').status().ticksSinceLeaderContact < c.electionTicks, 'b heard from a leader a moment ago (it refuses PreVotes)');
  c.raft('a').reelect();
  t.match(c.raft('a').status(), { role: 'candidate', term: term + 1, vote: 'a' });
  c.stabilize();
  t.same(c.leaders(), ['a']);
  t.equal(c.raft('a').status().term, term + 1, 'in the next term, at once');
  t.equal(c.raft('a').status().leaseVoid, false, 'a lease not voided');
  c.tickAll(1);
  c.stabilize();
  t.ok(c.raft('a').status().leaseRemainingTicks > 0, 'with a lease');
  c.raft('b').reelect();
  t.equal(c.raft('b').status().role, 'follower', 'a follower does not');
  t.end();
});

t.test('reelect ends a lease left void by a transfer that did not happen', (t) => {
  // c hands over to b without its vote, and keeps leading with no lease.
  const c = leaderWithNothingCommitted(t);
  const s = c.raft('c').status();
  t.ok(c.raft('c').transferLeadership('b').ok);
  c.filter = () => true;
  c.take((m) => m.type === 'timeoutNow');
  c.crash('b');
  c.tickAll(c.electionTicks + 1);
  c.stabilize();
  t.match(c.raft('c').status(), { role: 'leader', term: s.term, transferee: null, leaseRemainingTicks: 0, leaseVoid: true }, 'the transfer was abandoned, the lease stays void in this term');
  c.raft('c').reelect();
  c.stabilize();
  c.tickAll(1);
  c.stabilize();
  t.match(c.raft('c').status(), { role: 'leader', term: s.term + 1, leaseVoid: false });
  t.ok(c.raft('c').status().leaseRemainingTicks > 0, 'a lease again in the next term');
  t.end();
});

t.test('reelect with the TimeoutNow of the term it leaves arriving late: both stand in the next term, and one leader results', (t) => {
  const c = leaderWithNothingCommitted(t);
  const s = c.raft('c').status();
  t.ok(c.raft('c').transferLeadership('b').ok);
  c.filter = () => true;
  const late = c.take((m) => m.type === 'timeoutNow');
  t.equal(late.length, 1, 'the TimeoutNow to b is held back');
  c.raft('c').reelect();
  for (const m of late) c.raft('b').step(m);
  t.match(c.raft('b').status(), { role: 'candidate', term: s.term + 1 }, 'b stands in the next term too');
  c.stabilize();
  c.tickAll(3 * c.electionTicks);
  c.stabilize();
  const leaders = c.leaders();
  t.equal(leaders.length, 1, `one leader (${leaders.join(', ')})`);
  t.ok(c.raft(leaders[0] ?? 'c').status().term > s.term, 'in a later term');
  t.end();
});
