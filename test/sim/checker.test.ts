/**
 * The checkers themselves, on hand-made histories: each must fire on the
 * violation it names and stay quiet on the legal look-alike.
 */
import t from 'tap';
import type { Entry } from '../../src/raft/types.js';
import { SafetyChecker, SimViolation } from './checker.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { Prng } from './prng.js';
import { encodeCommand } from './state-machine.js';

const noop = (index: number, term: number): Entry => ({ index, term, payload: { type: 'noop' } });
const cmd = (index: number, term: number, id: string): Entry => ({
  index,
  term,
  payload: { type: 'command', data: encodeCommand({ id, key: 1, value: id }) },
});

function kindOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof SimViolation) return e.kind;
    throw e;
  }
}

const checker = (): SafetyChecker => new SafetyChecker(() => 'test');
const abc = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

t.test('one leader per term, elected by a durable quorum', (t) => {
  const c = checker();
  c.onHardState('a', { term: 0, vote: null, commit: 0 }, { term: 2, vote: 'a', commit: 0 });
  c.onHardState('b', { term: 0, vote: null, commit: 0 }, { term: 2, vote: 'a', commit: 0 });
  c.observeLeader('a', 2, abc, null);
  c.observeLeader('a', 2, abc, null);
  t.equal(kindOf(() => c.observeLeader('b', 2, abc, null)), 'two-leaders-in-term');
  t.equal(kindOf(() => c.observeLeader('c', 3, abc, null)), 'leader-without-quorum', 'no durable votes for c in term 3');
  c.onHardState('c', { term: 0, vote: null, commit: 0 }, { term: 4, vote: 'c', commit: 0 });
  t.equal(kindOf(() => c.observeLeader('c', 4, [{ id: 'c' }], null)), null, 'a single voter elects itself');
  t.equal(kindOf(() => c.observeLeader('b', 6, [{ id: 'b' }], 'b')), null, 'its own vote may still be on its way to disk');
  t.equal(kindOf(() => c.observeLeader('a', 5, [{ id: 'b' }], null)), 'leader-without-quorum', 'a leader outside its own configuration');
  t.end();
});

t.test('durable votes and terms never go back', (t) => {
  const c = checker();
  t.equal(kindOf(() => c.onHardState('a', { term: 3, vote: 'b', commit: 0 }, { term: 3, vote: 'c', commit: 0 })), 'double-vote');
  t.equal(kindOf(() => c.onHardState('a', { term: 3, vote: 'b', commit: 0 }, { term: 2, vote: null, commit: 0 })), 'durable-regressed');
  t.equal(kindOf(() => c.onHardState('a', { term: 3, vote: null, commit: 0 }, { term: 3, vote: 'a', commit: 0 })), null, 'voting once in a term is fine');
  t.end();
});

t.test('log matching across nodes and time', (t) => {
  const c = checker();
  const a = new SimDisk();
  const b = new SimDisk();
  a.append([noop(1, 1), cmd(2, 1, 'x'), cmd(3, 2, 'y')]);
  c.onEntriesWritten('a', a, 1);
  b.append([noop(1, 1), cmd(2, 1, 'x')]);
  c.onEntriesWritten('b', b, 1);
  t.equal(kindOf(() => c.onEntriesWritten('b', b, 1)), null, 'same prefix is fine');
  const d = new SimDisk();
  d.append([noop(1, 1), cmd(2, 1, 'OTHER'), cmd(3, 2, 'y')]);
  t.equal(kindOf(() => c.onEntriesWritten('d', d, 1)), 'log-matching', 'same (index, term), different entry');
  t.end();
});

t.test('a held committed entry is never replaced', (t) => {
  const c = checker();
  const a = new SimDisk();
  a.append([noop(1, 1), cmd(2, 1, 'x'), cmd(3, 1, 'y')]);
  c.onApplied('b', 2, a.chainAt(2) as number);
  const legal = a.append([cmd(3, 2, 'z')]);
  t.ok(legal);
  t.equal(kindOf(() => c.onOverwrite('a', a, legal!, 2)), null, 'replacing an uncommitted entry is legal');
  const bad = a.append([cmd(2, 3, 'w')]);
  t.equal(kindOf(() => c.onOverwrite('a', a, bad!, 0)), 'committed-entry-lost');
  t.end();
});

t.test('state machine safety and leader completeness', (t) => {
  const c = checker();
  const a = new SimDisk();
  a.append([noop(1, 1), cmd(2, 1, 'x')]);
  c.onCommitPersisted('a', a, 2, 1);
  const b = new SimDisk();
  b.append([noop(1, 1), cmd(2, 1, 'OTHER')]);
  t.equal(kindOf(() => c.onApplied('b', 2, b.chainAt(2) as number)), 'state-machine-safety');
  const stale = new SimDisk();
  stale.append([noop(1, 1)]);
  t.equal(kindOf(() => c.checkLeaderCompleteness('s', 2, stale)), 'leader-completeness', 'term-2 leader lacks an entry committed in term 1');
  t.equal(kindOf(() => c.checkLeaderCompleteness('s', 1, stale)), null, 'a stale leader of the same term may lack it');
  t.equal(kindOf(() => c.checkLeaderCompleteness('a', 2, a)), null);
  t.equal(kindOf(() => c.onCommitPersisted('b', stale, 5, 1)), 'commit-beyond-log');
  t.end();
});

t.test('reads must not go back in time', (t) => {
  const c = checker();
  const a = new SimDisk();
  a.append([noop(1, 1), cmd(2, 1, 'x'), cmd(3, 1, 'y')]);
  c.onApplied('a', 3, a.chainAt(3) as number);
  c.issueRead('r1', 'b');
  t.equal(kindOf(() => c.onReadState('b', 'r1', 3)), null);
  t.equal(c.onReadState('b', 'r1', -1), false, 'a refused read is not served');
  t.equal(kindOf(() => c.onReadState('b', 'r1', 2)), 'stale-read');
  t.end();
});

t.test('prng streams are deterministic and independent of draw order', (t) => {
  const a = Prng.derive(7, 'net');
  const b = Prng.derive(7, 'net');
  const xs = Array.from({ length: 5 }, () => a.u32());
  t.same(xs, Array.from({ length: 5 }, () => b.u32()));
  t.not(Prng.derive(7, 'net').u32(), Prng.derive(7, 'disk').u32());
  t.not(Prng.derive(7, 'node', 1, 1).u32(), Prng.derive(7, 'node', 1, 2).u32());
  const r = Prng.derive(1, 'x');
  for (let i = 0; i < 1000; i++) {
    const v = r.next();
    if (v < 0 || v >= 1) t.fail(`out of range ${v}`);
  }
  t.end();
});

t.test('event queue pops by time, then insertion order, within its bound', (t) => {
  const q = new EventQueue<{ time: number; id: number }>(4);
  q.push({ time: 5, id: 1 });
  q.push({ time: 1, id: 2 });
  q.push({ time: 5, id: 3 });
  q.push({ time: 0, id: 4 });
  t.ok(q.isFull());
  t.throws(() => q.push({ time: 9, id: 5 }));
  t.same([q.pop()?.id, q.pop()?.id, q.pop()?.id, q.pop()?.id, q.pop()], [4, 2, 1, 3, null]);
  t.end();
});
