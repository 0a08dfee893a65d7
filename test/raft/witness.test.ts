import t from 'tap';
import { WITNESS_ELECTION_FACTOR } from '../../src/raft/raft.js';
import type { Message } from '../../src/raft/types.js';
import { Cluster } from './harness.js';

t.test('a witness waits at least 3 election timeouts before campaigning', (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const c = new Cluster({ voters: ['a', 'b', 'w'], witnesses: ['w'], seed });
    c.crash('a');
    c.crash('b');
    let ticks = 0;
    while (c.raft('w').status().role === 'follower' && ticks < 100) {
      c.tick('w');
      ticks++;
    }
    t.ok(ticks >= WITNESS_ELECTION_FACTOR * c.electionTicks && ticks < (WITNESS_ELECTION_FACTOR + 1) * c.electionTicks, `seed ${seed}: witness campaigned after ${ticks} ticks`);
  }
  t.end();
});

t.test('with everyone up, a data node always wins the first election', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const c = new Cluster({ voters: ['a', 'b', 'w'], witnesses: ['w'], seed });
    c.tickAll(3 * c.electionTicks);
    const leaders = c.leaders();
    t.equal(leaders.length, 1, `seed ${seed}`);
    t.not(leaders[0], 'w', `seed ${seed}: leader ${leaders[0]}`);
  }
  t.end();
});

t.test('witness bridge: A behind, B down, W ahead -> W leads, catches A up, hands over to A', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'w'], witnesses: ['w'] });
  c.elect('b');
  // A falls behind: B commits entries with W only.
  c.isolate('a');
  for (let i = 0; i < 5; i++) c.propose('b', `only-on-b-and-w-${i}`);
  c.settle();
  const committed = c.raft('b').status().commit;
  t.equal(c.raft('w').status().commit, committed);
  t.ok(c.raft('a').status().lastIndex < committed, 'A lacks committed entries');
  c.crash('b');
  c.heal();
  // W's appends to A are held back so the bridge can be observed while W leads.
  c.filter = (m) => !(m.type === 'append' && m.from === 'w');
  let rounds = 0;
  while (c.raft('w').status().role !== 'leader' && rounds < 10 * c.electionTicks) {
    c.tickAll();
    rounds++;
    t.not(c.raft('a').status().role, 'leader', 'A cannot win: W refuses it (its log is behind)');
  }
  t.equal(c.raft('w').status().role, 'leader', 'W had to lead');
  t.match(c.raft('w').propose(new Uint8Array(1)), { ok: false, refusal: { code: 'NOT_LEADER', leader: null } }, 'a witness leader refuses client proposals');
  t.match(c.raft('w').proposeMembership({ op: 'remove', id: 'b' }), { ok: false, refusal: { code: 'NOT_LEADER', leader: null } });
  const wTerm = c.raft('w').status().term;
  c.raft('w').reelect();
  t.match(c.raft('w').status(), { role: 'leader', term: wTerm }, 'a witness leader does not stand again (reelect): it only bridges');
  // Now A is caught up; the TimeoutNow is held to be looked at.
  const handover: Message[] = [];
  c.filter = (m) => {
    if (m.type !== 'timeoutNow') return true;
    handover.push(m);
    return false;
  };
  for (let i = 0; i < 4 * c.electionTicks && handover.length === 0; i++) c.tickAll();
  t.equal(c.raft('a').status().lastIndex, c.raft('w').status().lastIndex, 'W caught A up');
  t.match(handover, [{ type: 'timeoutNow', from: 'w', to: 'a', term: wTerm, vote: true }], 'and handed over to A with its vote');
  t.match(c.raft('w').status(), { role: 'follower', term: wTerm + 1, vote: 'a' });
  c.filter = () => true;
  c.raft('a').step(handover[0] as Message);
  c.stabilize();
  t.equal(c.raft('a').status().role, 'leader', 'A leads');
  t.equal(c.raft('w').status().role, 'follower');
  t.same(
    c.appliedTexts('a'),
    Array.from({ length: 5 }, (_, i) => `only-on-b-and-w-${i}`),
    'A applied everything B committed',
  );
  c.propose('a', 'on-a');
  c.settle();
  t.same(c.appliedTexts('w').slice(-1), ['on-a']);
  t.end();
});
