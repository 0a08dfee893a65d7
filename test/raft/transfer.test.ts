import t from 'tap';
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

t.test('leadership transfer times out after electionTicks when the target never answers', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.crash('b');
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
  c.raft('b').step({ type: 'timeoutNow', from: 'c', to: 'b', term });
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

