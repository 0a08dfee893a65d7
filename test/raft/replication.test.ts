import t from 'tap';
import type { AppendRequest, AppendResponse, Entry, InitialState, Message } from '../../src/raft/types.js';
import { Cluster, cmd, ent, initialWithLog, logOf, membershipOf } from './harness.js';

const termsOf = (entries: readonly Entry[]): number[] => entries.map((e) => e.term);

function appendsTo(msgs: readonly Message[], to: string): AppendRequest[] {
  return msgs.filter((m): m is AppendRequest => m.type === 'append' && m.to === to);
}

/** Lets every node's restart guard and election timer run out without any message getting through. */
function quiesce(c: Cluster): void {
  for (let i = 0; i < c.electionTicks; i++) {
    for (const n of c.nodes.values()) if (n.up) n.raft.tick();
  }
  c.take();
}

t.test('replication: proposals reach every follower and commit in order', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 20; i++) c.propose('a', `x${i}`);
  c.settle();
  for (const id of ['a', 'b', 'c']) {
    t.same(c.appliedTexts(id), Array.from({ length: 20 }, (_, i) => `x${i}`), `${id} applied all in order`);
    t.equal(c.raft(id).status().commit, 27);
  }
  t.end();
});

t.test('a newer commit index is not broadcast: it rides on the next append, or on an empty one at the next tick', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.settle();
  const x = c.propose('a', 'x');
  c.drainAll();
  c.deliverOnce();
  t.equal(c.raft('a').status().commit, x.index - 1, 'appended, not yet acknowledged');
  c.deliverOnce();
  t.equal(c.raft('a').status().commit, x.index, 'the acknowledgements commit x');
  t.same(c.take((m) => m.from === 'a'), [], 'and send nothing: no commit-only append to every follower');
  t.equal(c.raft('b').status().commit, x.index - 1);

  c.propose('a', 'y');
  const carried = c.take((m) => m.from === 'a');
  t.same(
    ['b', 'c'].map((id) => appendsTo(carried, id).map((m) => [m.commit, m.entries.length])),
    [[[x.index, 1]], [[x.index, 1]]],
    'the next append carries the new commit index with its entry',
  );
  for (const m of carried) c.raft(m.to).step(m);
  c.drainAll();
  t.equal(c.raft('b').status().commit, x.index);
  t.same(c.appliedTexts('b'), ['x']);
  c.deliverOnce();
  const y = c.raft('a').status().commit;
  t.equal(y, x.index + 1, 'y committed on the leader');

  c.tick('a');
  const notices = c.take((m) => m.type === 'append' && m.from === 'a');
  t.same(
    ['b', 'c'].map((id) => appendsTo(notices, id).map((m) => [m.commit, m.entries.length])),
    [[[y, 0]], [[y, 0]]],
    'with nothing to send, the next tick sends an empty append carrying it',
  );
  c.tick('a');
  t.same(c.take((m) => m.type === 'append' && m.from === 'a'), [], 'once only');
  t.end();
});

t.test('a learner learns a newer commit index the same way as a voter, at the leader\'s next tick at the latest', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['l'] });
  c.elect('a');
  c.settle();
  const x = c.propose('a', 'x');
  c.stabilize();
  t.equal(c.raft('a').status().commit, x.index);
  t.equal(c.raft('l').status().lastIndex, x.index, 'the learner holds x');
  t.ok(c.raft('l').status().commit < x.index, 'but has not learned that it committed');
  c.tick('a');
  c.stabilize();
  t.equal(c.raft('l').status().commit, x.index);
  t.same(c.appliedTexts('l'), ['x']);
  t.end();
});

t.test('log matching: a follower rejects an append whose prevIndex/prevTerm it does not hold, with a term hint', (t) => {
  const m = membershipOf(['a', 'b']);
  const c = new Cluster({ voters: ['a', 'b'], initial: { b: initialWithLog(5, logOf([1, 1, 2, 2, 2]), m, 2) } });
  const b = c.raft('b');
  b.step({ type: 'append', from: 'a', to: 'b', term: 5, prevIndex: 5, prevTerm: 4, entries: [], commit: 0 });
  const [r] = c.take((x) => x.type === 'appendResponse') as AppendResponse[];
  t.match(r, { success: false, index: 5, hintIndex: 5, hintTerm: 2 }, 'largest index <= 5 with term <= 4 is 5 (term 2)');
  b.step({ type: 'append', from: 'a', to: 'b', term: 5, prevIndex: 9, prevTerm: 1, entries: [], commit: 0 });
  const [r2] = c.take((x) => x.type === 'appendResponse') as AppendResponse[];
  t.match(r2, { success: false, index: 9, hintIndex: 2, hintTerm: 1 }, 'beyond our log: search from our last index for term <= 1');
  t.end();
});

t.test('conflict truncation: a conflicting uncommitted suffix is replaced by the leader entries', (t) => {
  const m = membershipOf(['a', 'b']);
  const c = new Cluster({ voters: ['a', 'b'], initial: { b: initialWithLog(3, logOf([1, 1, 2, 2, 2]), m, 2) } });
  const b = c.raft('b');
  const entries = [ent(3, 3, 'n3'), ent(4, 3, 'n4')];
  b.step({ type: 'append', from: 'a', to: 'b', term: 3, prevIndex: 2, prevTerm: 1, entries, commit: 3 });
  t.match(c.take((x) => x.type === 'appendResponse'), [{ success: true, index: 4 }]);
  t.same(termsOf(c.node('b').store.entries), [1, 1, 3, 3], 'suffix from index 3 replaced, index 5 gone');
  t.equal(b.status().lastIndex, 4);
  t.equal(b.status().commit, 3, 'commit = min(leader commit, last new index)');
  // A duplicate of an older append does not truncate what followed it.
  b.step({ type: 'append', from: 'a', to: 'b', term: 3, prevIndex: 2, prevTerm: 1, entries: [ent(3, 3, 'n3')], commit: 3 });
  t.equal(b.status().lastIndex, 4, 'matching entries are not re-written');
  t.end();
});

// Raft paper, figure 7: the leader of term 8 and followers a-f with the
// logs shown; the leader repairs every one of them.
t.test('figure 7: a new leader of term 8 brings six divergent followers to its log', (t) => {
  const ids = ['L', 'a', 'b', 'c', 'd', 'e', 'f'];
  const m = membershipOf(ids);
  const logs: Record<string, number[]> = {
    L: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  const initial: Record<string, InitialState> = {};
  for (const id of ids) initial[id] = initialWithLog(7, logOf(logs[id] as number[]), m, 1);
  const c = new Cluster({ voters: ids, initial });
  quiesce(c);
  c.elect('L');
  t.equal(c.raft('L').status().term, 8);
  // c and d hold more up-to-date logs and refused; a, b, e, f made the quorum.
  c.propose('L', 'after');
  c.settle();
  const want = [...(logs.L as number[]), 8, 8];
  for (const id of ids) {
    t.same(termsOf(c.node(id).store.entries), want, `${id} log repaired`);
    t.equal(c.raft(id).status().commit, 12, `${id} commit`);
  }
  t.end();
});

t.test('fast back-off: follower f of figure 7 is found in one hinted step, not one per entry', (t) => {
  const m = membershipOf(['L', 'f', 'x']);
  const c = new Cluster({
    voters: ['L', 'f', 'x'],
    initial: {
      L: initialWithLog(7, logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]), m, 1),
      x: initialWithLog(7, logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]), m, 1),
      f: initialWithLog(7, logOf([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]), m, 1),
    },
  });
  quiesce(c);
  let rejections = 0;
  c.filter = (msg) => {
    if (msg.type === 'appendResponse' && msg.from === 'f' && !msg.success) rejections++;
    return true;
  };
  c.elect('L');
  t.equal(rejections, 1, 'one rejection: the hint (10, term 3) sends the leader straight to index 3');
  t.same(termsOf(c.node('f').store.entries), [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8]);
  t.end();
});

// Raft paper, figure 8 (section 5.4.2): S1, leader of term 4, has re-replicated
// its term-2 entry at index 2 onto a majority. Counting replicas must not
// commit it: S5 (with a term-3 entry at index 2) can still be elected and
// overwrite it. With the commitPreviousTermByCount fault it is "committed",
// and then lost.
for (const fault of [false, true]) {
  t.test(`figure 8: an entry of a previous term is ${fault ? 'wrongly committed (fault on)' : 'not committed'} by counting replicas`, (t) => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const m = membershipOf(ids);
    const c = new Cluster({
      voters: ids,
      limits: { maxEntriesPerAppend: 1 },
      faults: { commitPreviousTermByCount: fault },
      initial: {
        s1: initialWithLog(3, logOf([1, 2]), m, 1),
        s2: initialWithLog(3, logOf([1, 2]), m, 1),
        s3: initialWithLog(3, logOf([1]), m, 1),
        s4: initialWithLog(3, logOf([1]), m, 1, 's5'),
        s5: initialWithLog(3, logOf([1, 3]), m, 1, 's5'),
      },
    });
    quiesce(c);
    c.crash('s5');
    // S1's term-4 noop (index 3) never reaches anyone: only index 2 spreads.
    c.rewrite = (msg) => (msg.type === 'append' ? { ...msg, entries: msg.entries.filter((e) => e.index < 3) } : msg);
    c.elect('s1');
    const s1 = c.raft('s1').status();
    t.equal(s1.term, 4);
    t.same(termsOf(c.node('s3').store.entries), [1, 2], 'index 2 (term 2) is on s1, s2, s3: a majority');
    t.equal(s1.commit, fault ? 2 : 1, fault ? 'fault: committed by counting' : 'not committed: its term is not the current term');
    const committedBefore = s1.commit;
    // S1 crashes; S5 comes back and wins term 5 with S2, S3, S4.
    c.crash('s1');
    c.rewrite = (msg) => msg;
    c.restart('s5');
    quiesce(c);
    // Its first PreVote (for term 4) is refused: the others voted in term 4. It learns the term and tries again.
    c.raft('s5').campaign();
    c.stabilize();
    c.elect('s5');
    c.stabilize();
    t.equal(c.raft('s5').status().role, 'leader');
    const appliedAt2 = new Set<number>();
    for (const id of ids) {
      const e = c.node(id).applied.find((x) => x.index === 2);
      if (e !== undefined) appliedAt2.add(e.term);
    }
    if (fault) {
      t.equal(committedBefore, 2);
      t.same([...appliedAt2].sort(), [2, 3], 'state machine safety broken: nodes applied different entries at index 2');
    } else {
      t.same(termsOf(c.node('s3').store.entries).slice(0, 2), [1, 3], 'S5 overwrote the uncommitted index 2 with its term-3 entry');
      t.same([...appliedAt2], [3], 'every node that applied index 2 applied the same entry');
    }
    t.end();
  });
}

t.test('commit only by counting current-term entries: committing the noop commits earlier terms too', (t) => {
  const m = membershipOf(['a', 'b', 'c']);
  const c = new Cluster({
    voters: ['a', 'b', 'c'],
    initial: {
      a: initialWithLog(2, logOf([1, 2, 2]), m, 1),
      b: initialWithLog(2, logOf([1]), m, 1),
      c: initialWithLog(2, logOf([1]), m, 1),
    },
  });
  quiesce(c);
  c.elect('a');
  t.equal(c.raft('a').status().commit, 4, 'the term-3 noop at 4 commits, and 2..3 with it');
  t.same(termsOf(c.node('b').store.entries), [1, 2, 2, 3]);
  t.end();
});

t.test('pipelining: at most maxInflightAppends appends in flight to a follower in replicate state', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], limits: { maxInflightAppends: 3, maxEntriesPerAppend: 1 } });
  c.elect('a');
  const a = c.raft('a');
  for (let i = 0; i < 10; i++) {
    c.propose('a', `p${i}`);
    c.drain('a');
  }
  const out = c.take();
  const toB = appendsTo(out, 'b').filter((m) => m.entries.length > 0);
  t.equal(toB.length, 3, 'three appends out, the rest wait');
  t.same(
    toB.map((m) => m.entries[0]?.index),
    [8, 9, 10],
  );
  t.equal(a.status().progress.b?.inflight, 3);
  t.equal(a.status().progress.b?.state, 'replicate');
  // Acknowledge the first: exactly one more goes out.
  c.outbox = toB.slice(0, 1);
  c.deliverOnce(); // b acknowledges
  c.deliverOnce(); // a receives it
  const more = appendsTo(c.take(), 'b').filter((m) => m.entries.length > 0);
  t.equal(more.length, 1);
  t.equal(more[0]?.entries[0]?.index, 11);
  t.end();
});

t.test('batching: maxEntriesPerAppend and maxBytesPerAppend bound each append, but one entry always goes', (t) => {
  const c = new Cluster({ voters: ['a', 'b'], limits: { maxEntriesPerAppend: 3, maxBytesPerAppend: 10, maxInflightAppends: 64 } });
  c.elect('a');
  for (let i = 0; i < 7; i++) c.raft('a').propose(cmd('xyz')); // 3 bytes each
  c.raft('a').propose(new Uint8Array(100));
  const sizes = appendsTo(c.take(), 'b')
    .filter((m) => m.entries.length > 0)
    .map((m) => m.entries.length);
  t.same(sizes, [3, 3, 1, 1], 'three per batch by count (9 bytes); the 7th alone (100-byte next would overflow); the big one alone');
  const c2 = new Cluster({ voters: ['a', 'b'], limits: { maxEntriesPerAppend: 100, maxBytesPerAppend: 10 } });
  c2.elect('a');
  for (let i = 0; i < 7; i++) c2.raft('a').propose(cmd('xyz'));
  const sizes2 = appendsTo(c2.take(), 'b')
    .filter((m) => m.entries.length > 0)
    .map((m) => m.entries.length);
  t.same(sizes2, [3, 3, 1], 'by bytes: 9 of 10 bytes per batch');
  t.end();
});

t.test('proposals batched between ready() calls go to each follower in one append', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.raft('a').propose(cmd(`b${i}`));
  const toB = appendsTo(c.take(), 'b');
  t.equal(toB.length, 1);
  t.equal(toB[0]?.entries.length, 5);
  t.end();
});

t.test('proposals are refused with the right codes', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], limits: { maxUncommittedBytes: 10 } });
  t.match(c.raft('a').propose(cmd('x')), { ok: false, refusal: { code: 'NOT_LEADER', leader: null } }, 'no leader yet');
  c.elect('a');
  t.match(c.raft('b').propose(cmd('x')), { ok: false, refusal: { code: 'NOT_LEADER', leader: 'a' } }, 'follower names the leader');
  t.match(c.raft('a').propose(cmd('12345678')), { ok: true });
  t.match(c.raft('a').propose(cmd('123')), { ok: false, refusal: { code: 'UNCOMMITTED_LIMIT' } });
  c.stabilize();
  t.match(c.raft('a').propose(cmd('123')), { ok: true }, 'accepted again once committed');
  c.stabilize();
  // b lags, so the transfer waits for it to catch up.
  c.filter = (m) => m.to !== 'b';
  c.propose('a', 'lag');
  c.stabilize();
  t.ok(c.raft('a').transferLeadership('b').ok);
  t.match(c.raft('a').propose(cmd('x')), { ok: false, refusal: { code: 'TRANSFER_IN_PROGRESS' } });
  t.end();
});

t.test('a lost append with a full pipeline is recovered (the stall is detected)', (t) => {
  const c = new Cluster({ voters: ['a', 'b'], limits: { maxInflightAppends: 1 } });
  c.elect('a');
  c.propose('a', 'lost');
  c.take((m) => m.type === 'append' && m.to === 'b');
  c.stabilize();
  t.equal(c.raft('b').status().lastIndex, 5, 'b missed entry 6');
  t.equal(c.raft('a').status().progress.b?.inflight, 1, 'the pipeline is full');
  c.tickAll(c.electionTicks - 1);
  t.equal(c.raft('b').status().lastIndex, 5, 'heartbeats alone cannot resend into a full pipeline');
  c.tickAll(c.electionTicks);
  t.equal(c.raft('b').status().lastIndex, 6, 'b got it after the stall was detected');
  t.same(c.appliedTexts('b'), ['lost']);
  t.end();
});

t.test('a heartbeat carries min(leader commit, follower match): a lagging follower never learns a commit beyond what it holds', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.filter = (m) => m.to !== 'c';
  for (let i = 0; i < 3; i++) c.propose('a', `x${i}`);
  c.stabilize();
  c.filter = () => true;
  const a = c.raft('a');
  t.equal(a.status().commit, 10);
  c.tick('a', c.heartbeatTicks);
  const hbs = c.take((m) => m.type === 'heartbeat');
  t.match(hbs, [
    { to: 'b', commit: 10 },
    { to: 'c', commit: 7 },
  ]);
  t.end();
});
