import t, { type Test } from 'tap';
import { NEVER_HEARD_TICKS, Raft } from '../../src/raft/raft.js';
import { DEFAULT_LIMITS, type Message } from '../../src/raft/types.js';
import { Cluster, MemStore, membershipOf, seededRandom } from './harness.js';

t.test('a single node elects itself after its election timeout and commits its noop', (t) => {
  const c = new Cluster({ voters: ['a'] });
  const a = c.raft('a');
  t.equal(a.status().role, 'follower');
  t.equal(a.status().term, 1, 'bootstrap entries are at term 1');
  t.equal(a.status().commit, 2, 'bootstrap membership entries are committed');
  c.tick('a', c.electionTicks - 1);
  t.equal(a.status().role, 'follower', 'no campaign before electionTicks');
  c.tick('a', c.electionTicks);
  const s = a.status();
  t.equal(s.role, 'leader');
  t.equal(s.term, 2);
  t.equal(s.commit, 3, 'the noop of the new term commits at once');
  t.equal(c.node('a').appliedIndex, 3);
  t.end();
});

t.test('three nodes: a campaign elects one leader; the others follow it and, by its next tick, commit its noop', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  t.equal(c.raft('b').status().commit, 6, 'the noop is committed on the leader; b learns that with the next append');
  c.settle();
  for (const id of ['a', 'b', 'c']) {
    const s = c.raft(id).status();
    t.equal(s.term, 2, `${id} term`);
    t.equal(s.leader, 'a', `${id} knows the leader`);
    t.equal(s.commit, 7, `${id} commit (6 bootstrap entries + noop)`);
  }
  t.same(c.leaders(), ['a']);
  t.equal(c.raft('b').status().vote, 'a');
  t.end();
});

t.test('a leader reports the index of its noop as the start of its term; followers report 0', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  t.equal(c.raft('a').status().termStartIndex, 7, 'after 6 bootstrap entries');
  c.propose('a', 'x');
  t.equal(c.raft('a').status().termStartIndex, 7, 'later entries do not move it');
  t.equal(c.raft('b').status().termStartIndex, 0);
  c.stabilize();
  c.raft('a').transferLeadership('b');
  c.stabilize();
  t.equal(c.raft('b').status().role, 'leader');
  t.equal(c.raft('b').status().termStartIndex, c.raft('b').status().lastIndex, 'the new leader: its own noop, the last entry');
  t.equal(c.raft('a').status().termStartIndex, 0, 'the old leader, now a follower');
  t.end();
});

t.test('a new leader sends its noop at ready(), in one append with what was proposed on its election', (t) => {
  // Elected by a vote response, and by the write of its own vote (the old leader's came with its TimeoutNow).
  for (const oldLeaderVotes of [false, true]) {
    t.test(oldLeaderVotes ? 'elected on its own vote' : 'elected by an answer', (t) => {
      const c = new Cluster({ voters: ['a', 'b', 'c'] });
      c.elect('a');
      c.raft('a').transferLeadership('b');
      for (const m of c.take((m) => m.type === 'timeoutNow')) c.raft('b').step({ ...m, vote: oldLeaderVotes } as Message);
      // Its first Ready writes its vote (and sends its vote requests, if any): as RaftNode, no more before the proposal.
      c.drain('b', 1);
      if (!oldLeaderVotes) {
        for (const m of c.take((m) => m.type === 'vote')) c.raft(m.to).step(m);
        for (const m of c.take((m) => m.type === 'voteResponse' && m.to === 'b')) c.raft('b').step(m);
      }
      t.ok(c.raft('b').isLeader(), 'b elected');
      noopAndProposalTogether(t, c);
      t.end();
    });
  }
  t.end();
});

function noopAndProposalTogether(t: Test, c: Cluster): void {
  c.propose('b', 'grant');
  const appends = c.take((m) => m.type === 'append' && m.from === 'b');
  t.same(
    appends.map((m) => (m.type === 'append' ? [m.to, m.entries.map((e) => e.payload.type)] : [])).sort(),
    [
      ['a', ['noop', 'command']],
      ['c', ['noop', 'command']],
    ],
    'noop and proposal in the first append to each follower (it probes with one append at a time)',
  );
  c.settle();
  t.same(c.appliedTexts('c'), ['grant']);
}

t.test('election timeouts are randomised in [electionTicks, 2*electionTicks)', (t) => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const store = new MemStore();
    const r = new Raft(
      { id: 'a', electionTicks: 10, heartbeatTicks: 1, random: seededRandom(seed), limits: DEFAULT_LIMITS },
      store.initial(membershipOf(['a', 'b', 'c'])),
    );
    let ticks = 0;
    while (r.status().role === 'follower' && ticks < 100) {
      r.tick();
      ticks++;
    }
    t.ok(ticks >= 10 && ticks < 20, `timeout ${ticks} in range`);
    seen.add(ticks);
  }
  t.ok(seen.size > 3, 'timeouts vary with the seed');
  t.end();
});

t.test('electionJitter narrows the draw to [electionTicks + min, electionTicks + min + span); setTimers can change it', (t) => {
  const seen = new Set<number>();
  const firstTimeout = (r: Raft): number => {
    let ticks = 0;
    while (r.status().role === 'follower' && ticks < 100) {
      r.tick();
      ticks++;
    }
    return ticks;
  };
  for (let seed = 1; seed <= 40; seed++) {
    const r = new Raft(
      { id: 'a', electionTicks: 10, heartbeatTicks: 1, electionJitter: { minTicks: 2, spanTicks: 3 }, random: seededRandom(seed), limits: DEFAULT_LIMITS },
      new MemStore().initial(membershipOf(['a', 'b', 'c'])),
    );
    const ticks = firstTimeout(r);
    t.ok(ticks >= 12 && ticks < 15, `timeout ${ticks} in [12, 15)`);
    seen.add(ticks);
  }
  t.same([...seen].sort(), [12, 13, 14], 'every value of the span is drawn');
  const r = new Raft(
    { id: 'a', electionTicks: 10, heartbeatTicks: 1, random: () => 0.999, limits: DEFAULT_LIMITS },
    new MemStore().initial(membershipOf(['a', 'b', 'c'])),
  );
  r.setTimers({ electionTicks: 10, heartbeatTicks: 1, electionJitter: { minTicks: 1, spanTicks: 2 } });
  t.equal(firstTimeout(r), 12, 'a jitter given live is used at the next draw');
  t.throws(
    () => r.setTimers({ electionTicks: 10, heartbeatTicks: 1, electionJitter: { minTicks: -1, spanTicks: 2 } }),
    /electionJitter.minTicks must be an integer >= 0, got -1/,
  );
  t.end();
});

t.test('PreVote: a partitioned node does not inflate its term, and rejoining does not depose the leader', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const term = c.raft('a').status().term;
  c.isolate('c');
  for (let i = 0; i < 10 * c.electionTicks; i++) c.tickAll();
  const sc = c.raft('c').status();
  t.equal(sc.term, term, 'isolated node stays at the same term');
  t.not(sc.role, 'leader');
  t.equal(sc.role, 'pre-candidate', 'it keeps pre-campaigning');
  t.equal(c.raft('a').status().role, 'leader', 'a still leads the majority');
  c.heal();
  c.tickAll(3 * c.electionTicks);
  t.equal(c.raft('a').status().role, 'leader', 'a still leads after the heal');
  t.equal(c.raft('a').status().term, term, 'no term change at all');
  t.equal(c.raft('c').status().leader, 'a');
  t.end();
});

t.test('CheckQuorum: an isolated leader steps down within electionTicks; the majority elects a new one', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.isolate('a');
  let steppedDownAfter = -1;
  for (let i = 1; i <= 3 * c.electionTicks; i++) {
    c.tickAll();
    if (steppedDownAfter < 0 && c.raft('a').status().role !== 'leader') steppedDownAfter = i;
  }
  t.ok(steppedDownAfter > 0 && steppedDownAfter <= c.electionTicks, `stepped down after ${steppedDownAfter} ticks`);
  const leaders = c.leaders();
  t.equal(leaders.length, 1);
  t.not(leaders[0], 'a');
  t.equal(c.raft('a').status().leaseRemainingTicks, 0);
  t.end();
});

t.test('vote refusal within the lease: a follower that heard from the leader ignores higher-term votes unless transfer', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const b = c.raft('b');
  const term = b.status().term;
  const vote = (transfer: boolean): Message => ({ type: 'vote', from: 'c', to: 'b', term: term + 5, lastLogIndex: 100, lastLogTerm: term, transfer });
  b.step({ type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term });
  b.step(vote(false));
  t.equal(b.status().term, term, 'term not bumped by refused requests');
  t.same(c.take((m) => m.from === 'b'), [], 'no answer at all while in lease');
  t.equal(b.status().droppedMessages, 2, 'refusals are counted');
  b.step(vote(true));
  t.equal(b.status().term, term + 5, 'a transfer vote is honoured');
  const answers = c.take((m) => m.from === 'b');
  t.match(answers, [{ type: 'voteResponse', to: 'c', granted: true, term: term + 5 }]);
  t.end();
});

t.test('after electionTicks without the leader, a follower grants PreVote and Vote again', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.crash('a');
  const b = c.raft('b');
  const term = b.status().term;
  c.tick('b', c.electionTicks - 1);
  b.step({ type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term });
  t.same(c.take((m) => m.from === 'b' && m.type === 'preVoteResponse'), [], 'refused one tick before');
  c.tick('b', 1);
  if (b.status().role === 'follower') {
    b.step({ type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term });
    t.match(c.take((m) => m.from === 'b' && m.type === 'preVoteResponse'), [{ granted: true, term: term + 1 }]);
    t.equal(b.status().term, term, 'PreVote does not change the term');
  } else {
    t.pass('b campaigned itself at its timeout');
  }
  t.end();
});

t.test('PreVote is refused to a candidate whose log is behind', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.crash('a');
  c.tick('b', c.electionTicks);
  c.take();
  const b = c.raft('b');
  const term = b.status().term;
  b.step({ type: 'preVote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 1, lastLogTerm: 1 });
  t.match(c.take((m) => m.type === 'preVoteResponse'), [{ granted: false, term }]);
  t.end();
});

t.test('lease arithmetic: quorum-acknowledged send tick + electionTicks - 1 - now; zero off the leader', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 2 });
  c.elect('a');
  const a = c.raft('a');
  // elect() acknowledged the election heartbeat sent at tick 0.
  t.equal(a.status().tick, 0);
  t.equal(a.status().leaseRemainingTicks, 9, 'sent at 0: 0 + 10 - 1 - 0');
  c.tick('a', 1);
  c.take();
  t.equal(a.status().leaseRemainingTicks, 8, 'one tick later, nothing new acknowledged');
  c.tick('a', 1); // heartbeat at tick 2
  // Only c answers: with a itself that is a quorum.
  c.filter = (m) => !(m.from === 'b' || m.to === 'b');
  c.stabilize();
  t.equal(a.status().leaseRemainingTicks, 9, 'sent at 2, acked by c: 2 + 10 - 1 - 2');
  c.filter = () => false;
  c.tick('a', 5);
  c.take();
  t.equal(a.status().leaseRemainingTicks, 4, 'no acks: the lease runs down');
  c.tick('a', 10);
  t.equal(a.status().leaseRemainingTicks, 0);
  t.equal(c.raft('b').status().leaseRemainingTicks, 0, 'followers have no lease');
  t.equal(c.raft('b').status().ticksSinceLeaderContact, 0, 'b heard from a just now (before the cut)');
  c.tick('b', 3);
  t.equal(c.raft('b').status().ticksSinceLeaderContact, 3);
  t.end();
});

t.test('lease is zero once the leader sends TimeoutNow in its term', (t) => {
  t.test('it hands over with its vote: it steps down', (t) => {
    const c = new Cluster({ voters: ['a', 'b', 'c'] });
    c.elect('a');
    t.ok(c.raft('a').status().leaseRemainingTicks > 0);
    c.filter = (m) => m.type !== 'timeoutNow';
    t.ok(c.raft('a').transferLeadership('b').ok);
    c.stabilize();
    t.match(c.raft('a').status(), { role: 'follower', leaseRemainingTicks: 0 }, 'TimeoutNow was lost, a no longer leads');
    t.end();
  });
  t.end();
});

t.test('a restarted node refuses votes for electionTicks (it may have acknowledged a leader just before the crash)', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.crash('b');
  c.restart('b');
  const b = c.raft('b');
  const term = b.status().term;
  b.step({ type: 'vote', from: 'c', to: 'b', term: term + 1, lastLogIndex: 100, lastLogTerm: term, transfer: false });
  t.same(c.take((m) => m.from === 'b'), [], 'refused right after restart');
  c.filter = () => false;
  c.tick('b', c.electionTicks);
  c.take();
  c.filter = () => true;
  const s = b.status();
  t.ok(s.role !== 'follower' || s.term === term, 'b has timed out or is still at the same term');
  t.end();
});

t.test('a fresh node with no membership waits: it never campaigns', (t) => {
  const c = new Cluster({ voters: ['a'], joiners: ['x'] });
  c.tick('x', 100);
  const s = c.raft('x').status();
  t.equal(s.role, 'follower');
  t.equal(s.term, 0);
  t.equal(s.kind, null);
  t.same(c.take((m) => m.from === 'x'), []);
  t.end();
});

t.test('messages for another node, from ourselves, or malformed are dropped and counted', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  const b = c.raft('b');
  b.step({ type: 'heartbeat', from: 'a', to: 'c', term: 9, commit: 0, sentTick: 0, readCtx: null });
  b.step({ type: 'heartbeat', from: 'b', to: 'b', term: 9, commit: 0, sentTick: 0, readCtx: null });
  b.step({ type: 'append', from: 'a', to: 'b', term: 9, prevIndex: 6, prevTerm: 1, commit: 0, entries: [{ index: 9, term: 9, payload: { type: 'noop' } }] });
  t.equal(b.status().droppedMessages, 3);
  t.equal(b.status().term, 1, 'nothing adopted from them');
  t.end();
});

t.test('the countStaleVotes fault lets a candidate win with a grant from an older term', (t) => {
  for (const fault of [false, true]) {
    const c = new Cluster({ voters: ['a', 'b', 'c'], faults: { countStaleVotes: fault } });
    const a = c.raft('a');
    a.campaign();
    c.take(); // its PreVotes are lost
    // Force a to candidate at term 3 through two PreVote rounds granted by hand.
    const grantPre = (term: number): void => a.step({ type: 'preVoteResponse', from: 'b', to: 'a', term, granted: true });
    grantPre(2);
    t.equal(a.status().role, 'candidate');
    t.equal(a.status().term, 2);
    c.take();
    c.tick('a', 2 * c.electionTicks);
    c.take();
    if (a.status().role === 'pre-candidate') grantPre(a.status().term + 1);
    t.equal(a.status().role, 'candidate');
    const term = a.status().term;
    t.ok(term > 2);
    c.take();
    a.step({ type: 'voteResponse', from: 'c', to: 'a', term: 2, granted: true });
    t.equal(a.status().role, fault ? 'leader' : 'candidate', `fault ${fault}`);
  }
  t.end();
});

t.test('the skipLogUpToDateCheck fault grants a vote to a candidate whose log is behind', (t) => {
  for (const fault of [false, true]) {
    const c = new Cluster({ voters: ['a', 'b', 'c'], faults: { skipLogUpToDateCheck: fault } });
    c.elect('a');
    c.crash('a');
    c.tick('b', 2 * c.electionTicks);
    c.take();
    const b = c.raft('b');
    const term = b.status().term + 1;
    b.step({ type: 'vote', from: 'c', to: 'b', term, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    t.match(c.take((m) => m.type === 'voteResponse'), [{ granted: fault, term }], `fault ${fault}`);
  }
  t.end();
});

t.test("a new leader reports each peer unanswered until it answers (CheckQuorum's grace is not an answer)", (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  c.crash('c');
  t.ok(c.raft('a').transferLeadership('b').ok);
  for (const m of c.take((m) => m.type === 'timeoutNow')) c.raft('b').step(m);
  c.drain('b', 1);
  t.ok(c.raft('b').isLeader());
  const fresh = c.raft('b').status().progress;
  t.match(fresh, { a: { ticksSinceHeard: 0, ticksSinceAnswer: NEVER_HEARD_TICKS }, c: { ticksSinceHeard: 0, ticksSinceAnswer: NEVER_HEARD_TICKS } });
  c.stabilize();
  c.tick('b', 2);
  c.stabilize();
  const later = c.raft('b').status().progress;
  t.ok((later.a?.ticksSinceAnswer ?? Infinity) <= 1, 'a answered');
  t.equal(later.c?.ticksSinceAnswer, NEVER_HEARD_TICKS, 'c (down) never did');
  t.equal(later.c?.ticksSinceHeard, 2, 'while CheckQuorum counts from the election');
  t.end();
});
