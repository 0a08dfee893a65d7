import t from 'tap';
import type { Message, SnapshotChunk, SnapshotResponse } from '../../src/raft/types.js';
import { Cluster, initialWithLog, logOf, member, membershipOf } from './harness.js';

function snapshotData(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => i % 251);
}

/** The application snapshots at its applied index and compacts (what the driver does). */
function compactAt(c: Cluster, id: string, data: Uint8Array): number {
  const n = c.node(id);
  const index = n.appliedIndex;
  n.raft.compact(index, data);
  const s = n.raft.status();
  n.store.compact({ meta: { index, term: s.snapshotTerm, membership: s.snapshotMembership }, data });
  return index;
}

const chunks = (ms: readonly Message[]): SnapshotChunk[] => ms.filter((m): m is SnapshotChunk => m.type === 'snapshot');

t.test('compact drops the log up to the index and keeps a snapshot with the term and membership there', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.stabilize();
  const index = compactAt(c, 'a', snapshotData(10));
  const s = c.raft('a').status();
  t.equal(index, 12);
  t.equal(s.snapshotIndex, 12);
  t.equal(s.snapshotTerm, 2);
  t.equal(s.firstIndex, 13);
  t.same(s.snapshotMembership, c.bootstrap);
  t.throws(() => c.raft('a').compact(100, new Uint8Array(0)), /beyond applied/);
  t.end();
});

t.test('a lagging follower gets the snapshot in chunks, one in flight, installs it and catches up', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], limits: { snapshotChunkBytes: 10 } });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 10; i++) c.propose('a', `x${i}`);
  c.stabilize();
  const data = snapshotData(95);
  const index = compactAt(c, 'a', data);
  c.propose('a', 'after-snapshot');
  c.stabilize();
  c.heal();
  const seen: SnapshotChunk[] = [];
  let maxInFlight = 0;
  c.filter = (m) => {
    if (m.type === 'snapshot') seen.push(m);
    return true;
  };
  for (let round = 0; round < 20; round++) {
    for (const id of ['a', 'b', 'c']) c.raft(id).tick();
    c.drainAll();
    for (let i = 0; i < 100 && c.outbox.length > 0; i++) {
      maxInFlight = Math.max(maxInFlight, chunks(c.outbox).length);
      c.deliverOnce();
    }
  }
  c.filter = () => true;
  t.ok(seen.length >= 10, `sent in ${seen.length} chunks`);
  t.ok(
    seen.every((m) => m.chunk.byteLength <= 10),
    'each chunk within snapshotChunkBytes',
  );
  t.ok(maxInFlight <= 1, 'one chunk in flight at a time');
  const sc = c.node('c');
  t.equal(sc.store.snapshot?.meta.index, index, 'c persisted the snapshot');
  t.same(sc.store.snapshot?.data, data, 'assembled byte for byte');
  t.equal(c.raft('c').status().snapshotIndex, index);
  t.same(c.raft('c').status().membership, c.bootstrap, 'membership from the snapshot meta');
  t.same(c.appliedTexts('c'), ['after-snapshot'], 'then entries after the snapshot');
  t.equal(sc.appliedIndex, c.raft('a').status().commit);
  t.end();
});

t.test('a lost chunk is re-sent and the transfer resumes where the follower is', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], limits: { snapshotChunkBytes: 10 } });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.stabilize();
  const data = snapshotData(45);
  compactAt(c, 'a', data);
  c.heal();
  let dropped = false;
  const offsets: number[] = [];
  c.filter = (m) => {
    if (m.type !== 'snapshot') return true;
    offsets.push(m.offset);
    if (m.offset === 20 && !dropped) {
      dropped = true;
      return false;
    }
    return true;
  };
  c.tickAll(4 * c.electionTicks);
  t.ok(dropped);
  t.same(c.node('c').store.snapshot?.data, data);
  t.same(offsets.slice(0, 4), [0, 10, 20, 20], 'the lost chunk was sent again from the same offset');
  t.equal(c.raft('c').status().lastIndex, c.raft('a').status().lastIndex);
  t.end();
});

t.test('a follower validates chunks: oversize totals and out-of-order starts make the leader restart', (t) => {
  const c = new Cluster({ voters: ['a', 'b'], limits: { maxSnapshotBytes: 100 } });
  c.elect('a');
  const b = c.raft('b');
  const term = b.status().term;
  const meta = { index: 50, term, membership: c.bootstrap };
  const base = { type: 'snapshot' as const, from: 'a', to: 'b', term, meta };
  b.step({ ...base, offset: 0, chunk: new Uint8Array(10), totalBytes: 1_000_000, done: false });
  const [r1] = c.take((m) => m.type === 'snapshotResponse') as SnapshotResponse[];
  t.equal(r1?.nextOffset, -1, 'a total beyond maxSnapshotBytes is refused before allocating');
  b.step({ ...base, offset: 40, chunk: new Uint8Array(10), totalBytes: 80, done: false });
  const [r2] = c.take((m) => m.type === 'snapshotResponse') as SnapshotResponse[];
  t.equal(r2?.nextOffset, -1, 'a middle chunk of a transfer we never started');
  b.step({ ...base, offset: 0, chunk: new Uint8Array(10), totalBytes: 80, done: false });
  b.step({ ...base, offset: 30, chunk: new Uint8Array(10), totalBytes: 80, done: false });
  const rs = c.take((m) => m.type === 'snapshotResponse') as SnapshotResponse[];
  t.same(
    rs.map((r) => r.nextOffset),
    [10, 10],
    'a gap is answered with where we are',
  );
  b.step({ ...base, offset: 10, chunk: new Uint8Array(70), totalBytes: 80, done: false });
  const [r3] = c.take((m) => m.type === 'snapshotResponse') as SnapshotResponse[];
  t.equal(r3?.nextOffset, -1, 'complete but not marked done: inconsistent, restart');
  t.equal(b.status().snapshotIndex, 0, 'nothing installed');
  t.end();
});

t.test('a brand-new node joins through a snapshot and learns the membership from it', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], limits: { snapshotChunkBytes: 64 } });
  c.elect('a');
  for (let i = 0; i < 5; i++) c.propose('a', `x${i}`);
  c.stabilize();
  compactAt(c, 'a', snapshotData(200));
  c.addJoiner('x');
  t.ok(c.raft('a').proposeMembership({ op: 'addLearner', member: member('x') }).ok);
  c.stabilize();
  const sx = c.raft('x').status();
  t.equal(sx.snapshotIndex, 12);
  t.equal(sx.kind, 'data');
  t.same(
    sx.membership.learners.map((l) => l.id),
    ['x'],
  );
  t.equal(sx.lastIndex, c.raft('a').status().lastIndex);
  t.end();
});

t.test('a snapshot at or below the follower commit is acknowledged without installing', (t) => {
  const c = new Cluster({ voters: ['a', 'b'] });
  c.elect('a');
  const b = c.raft('b');
  const term = b.status().term;
  b.step({ type: 'snapshot', from: 'a', to: 'b', term, meta: { index: 3, term: 1, membership: c.bootstrap }, offset: 0, chunk: new Uint8Array(4), totalBytes: 4, done: true });
  t.match(c.take((m) => m.type === 'snapshotResponse'), [{ done: true, snapshotIndex: 3 }]);
  t.equal(b.status().snapshotIndex, 0);
  t.end();
});

t.test('a snapshot over a conflicting uncommitted suffix replaces the whole log; a restart right after is consistent', (t) => {
  const m = membershipOf(['a', 'b', 'c']);
  const c = new Cluster({
    voters: ['a', 'b', 'c'],
    initial: {
      a: initialWithLog(2, logOf([1, 1, 2, 2]), m, 2),
      b: initialWithLog(2, logOf([1, 1, 2, 2]), m, 2),
      // c led term 1 for a while and kept entries nobody else has.
      c: initialWithLog(2, logOf(new Array<number>(30).fill(1)), m, 2),
    },
  });
  for (let i = 0; i < c.electionTicks; i++) for (const n of c.nodes.values()) n.raft.tick();
  c.take();
  c.isolate('c');
  c.elect('a');
  for (let i = 0; i < 8; i++) c.propose('a', `x${i}`);
  c.stabilize();
  const index = compactAt(c, 'a', snapshotData(30));
  t.ok(index < 30, 'c holds a conflicting suffix beyond the snapshot index');
  t.not(c.node('c').store.entries[index - 1]?.term, c.raft('a').status().snapshotTerm, 'and a different term at it');
  c.heal();
  c.crash('b'); // only a snapshot can repair c now, and a needs c for a quorum
  c.tickAll(3);
  const sc = c.raft('c').status();
  t.equal(sc.snapshotIndex, index, 'c installed the snapshot');
  t.equal(sc.lastIndex, c.raft('a').status().lastIndex, 'and caught up after it');
  c.crash('c');
  c.restart('c');
  const r = c.raft('c').status();
  t.equal(r.snapshotIndex, index);
  t.equal(r.lastIndex, c.raft('a').status().lastIndex, 'the restarted log is the snapshot plus the new entries');
  c.raft('c').checkInvariants();
  t.end();
});
