import t from 'tap';
import fc from 'fast-check';
import { Packr, pack, unpack } from 'msgpackr';
import { applyEntry } from '../../src/fsm/apply.js';
import { backupChecksum } from '../../src/fsm/backup.js';
import { encodeCommand, makeCommand, type BackupFile, type ClusterCommand } from '../../src/fsm/commands.js';
import { SnapshotFormatError, restore, snapshot } from '../../src/fsm/snapshot.js';
import { packCanonical } from '../../src/fsm/canonical.js';
import { initialState, type ClusterState } from '../../src/fsm/state.js';
import type { Entry, EntryPayload } from '../../src/raft/types.js';
import { GOOD_SETTINGS, Log, at, pair } from './fixtures.js';

const ids = ['fw1', 'fw2', 'fw3', 'wit'] as const;
const id = fc.constantFrom(...ids);
const meta = fc.record({ at: fc.integer({ min: 0, max: 3600 }).map(at), principal: fc.constantFrom('ops', 'alice', 'node:fw1') });
const revision = fc.option(fc.integer({ min: 0, max: 4 }), { nil: null });

const command: fc.Arbitrary<ClusterCommand> = fc.oneof(
  fc.tuple(id, fc.constantFrom('0.3.0', '0.4.0'), fc.boolean(), meta).map(([i, version, entitlementPresent, m]) =>
    makeCommand('registerMember', { member: { id: i, kind: i === 'wit' ? 'witness' : 'data', peer: `${i}:7400`, api: `${i}:7480`, version, entitlementPresent } }, m),
  ),
  fc.tuple(id, fc.constantFrom('healthy', 'degraded', 'failed', 'unknown'), fc.boolean(), meta).map(([node, health, ok, m]) =>
    makeCommand(
      'reportHealth',
      {
        node,
        health,
        monitors: [{ name: 'upstream', state: health === 'failed' ? 'down' : 'up' }],
        appliedConfigRevision: 1,
        appliedPolicyRevision: 1,
        policyApply: { revision: 1, ok, error: ok ? null : 'nft: syntax error' },
        peers: [{ id: 'fw1', reachable: ok }],
      },
      m,
    ),
  ),
  fc.tuple(fc.constantFrom('fw1', 'fw2', null), fc.boolean(), fc.integer({ min: 0, max: 20_000 }), revision, meta).map(
    ([preferred, auto, holdDownMs, ifRevision, m]) =>
      makeCommand('setSettings', { settings: { ...GOOD_SETTINGS, preferred, failback: { auto, holdDownMs }, flapDamping: { maxMoves: 2, windowMs: 600_000 } }, ifRevision }, m),
  ),
  fc.tuple(fc.string({ maxLength: 40 }), revision, meta).map(([ruleset, ifRevision, m]) => makeCommand('setPolicy', { ruleset, ifRevision }, m)),
  fc.tuple(id, fc.integer({ min: 1, max: 4 }), fc.constantFrom('failover', 'failback', 'bootstrap', 'fence-lapsed'), fc.constantFrom(1, 2), meta).map(
    ([holder, epoch, reason, v, m]) => makeCommand('grantLease', { holder, epoch, reason, term: epoch }, { ...m, v }),
  ),
  fc.tuple(id, fc.integer({ min: 0, max: 3 }), meta).map(([to, epoch, m]) => makeCommand('moveIntent', { to, reason: 'switchover', epoch }, m)),
  fc.tuple(fc.integer({ min: 1, max: 40 }), meta).map(([intentIndex, m]) => makeCommand('withdrawIntent', { intentIndex }, m)),
  fc.tuple(id, fc.boolean(), meta).map(([node, on, m]) => makeCommand('setMaintenance', { node, on }, m)),
  fc.tuple(fc.string({ maxLength: 10 }), meta).map(([comment, m]) => makeCommand('createBackup', { comment }, m)),
  fc.tuple(fc.integer({ min: 4, max: 20 }), revision, meta).map(([i, ifRevision, m]) => makeCommand('restoreBackup', { id: `b${i}`, ifRevision }, m)),
  meta.map((m) => makeCommand('clearFlapDamping', {}, m)),
  meta.map((m) => makeCommand('addNote', { text: `note at ${m.at}` }, m)),
  // A backup file from elsewhere: valid, naming a node we lack, or damaged on the way.
  fc.tuple(fc.constantFrom('fw1', 'fw2', 'fw9'), fc.string({ maxLength: 20 }), fc.boolean(), meta).map(([preferred, ruleset, damaged, m]) => {
    const content = { settings: { ...GOOD_SETTINGS, preferred }, policy: { ruleset, revision: 3 }, configRevision: 5 };
    const sha256 = backupChecksum(content);
    const backup: BackupFile = {
      id: 'b7', cluster: 'other', at: m.at, author: 'ops', comment: 'from the lab', index: 7, content,
      sha256: damaged ? `${sha256.slice(0, -1)}${sha256.endsWith('0') ? '1' : '0'}` : sha256,
    };
    return makeCommand('importBackup', { backup }, m);
  }),
);

/** Every sequence is applied through its bytes, with a few undecodable entries mixed in. */
const entry = fc.oneof(
  { weight: 20, arbitrary: command.map((c) => encodeCommand(c)) },
  { weight: 1, arbitrary: fc.constant(new Packr({ useRecords: false }).pack({ type: 'setPolicy', v: 99, at: at(0), principal: 'x' })) },
);

/** What the Raft log commits: commands, a new leader's noop, membership changes. */
const payload: fc.Arbitrary<EntryPayload> = fc.oneof(
  { weight: 20, arbitrary: entry.map((data): EntryPayload => ({ type: 'command', data })) },
  { weight: 2, arbitrary: fc.constant<EntryPayload>({ type: 'noop' }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<EntryPayload>(
      { type: 'membership', change: { op: 'remove', id: 'fw2' } },
      { type: 'membership', change: { op: 'addLearner', member: { id: 'fw3', kind: 'data', peer: 'fw3:7400' } } },
      { type: 'membership', change: { op: 'promote', id: 'fw3' } },
    ),
  },
);

/** A committed log suffix after pair()'s three registrations: consecutive indexes, terms that never go down. */
function toEntries(payloads: readonly EntryPayload[], termSteps: readonly boolean[]): Entry[] {
  let term = 1;
  return payloads.map((p, i) => {
    if (termSteps[i] === true) term++;
    return { index: 4 + i, term, payload: p };
  });
}

function applyAll(state: ClusterState, entries: readonly Entry[]): ClusterState {
  let s = state;
  for (const e of entries) s = applyEntry(s, e).state;
  return s;
}

/** Starts from three registered members so that most commands can take effect. */
function replay(entries: readonly Uint8Array[]): Log {
  const log = pair();
  for (const e of entries) log.runBytes(e);
  return log;
}

t.test('two replicas applying the same entries produce byte-identical snapshots', async (t) => {
  const appliedTypes = new Set<string>();
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 60, size: 'max' }), (entries) => {
      const a = replay(entries);
      const b = replay(entries);
      for (const r of a.state.audit) if (r.outcome === 'applied') appliedTypes.add(r.command);
      return Buffer.from(snapshot(a.state)).equals(Buffer.from(snapshot(b.state)));
    }),
    { numRuns: 150 },
  );
  // The generator must reach real transitions, not only refusals.
  t.ok(appliedTypes.size >= 9, `applied command types: ${[...appliedTypes].sort().join(', ')}`);
});

t.test('replicas that apply the same committed entries differently stay byte-identical', async (t) => {
  // Replica A applies the entries straight. Replica B gets each entry through a
  // msgpack round trip (the wire and the log store), is snapshotted and restored
  // at random points (a restart, a snapshot from the leader), and runs with a
  // different clock and random source: if apply read any of them, or kept state
  // outside ClusterState, the bytes would differ.
  const realNow = Date.now;
  const realRandom = Math.random;
  let compared = 0;
  try {
    fc.assert(
      fc.property(
        fc.array(payload, { maxLength: 60, size: 'max' }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.array(fc.nat({ max: 60 }), { maxLength: 4 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (payloads, termSteps, cuts, skew) => {
          const entries = toEntries(payloads, termSteps);
          const start = pair().state;
          const a: ClusterState[] = [];
          let sa = start;
          for (const e of entries) {
            sa = applyEntry(sa, e).state;
            a.push(sa);
          }
          Date.now = () => realNow() + skew;
          Math.random = () => 0.5;
          let sb = restore(snapshot(start));
          entries.forEach((e, i) => {
            sb = applyEntry(sb, unpack(pack(e)) as Entry).state;
            if (cuts.includes(i)) {
              sb = restore(snapshot(sb));
              const bytes = Buffer.from(snapshot(sb));
              compared++;
              if (!bytes.equals(Buffer.from(snapshot(a[i] as ClusterState)))) throw new Error(`replicas differ at index ${e.index}`);
            }
          });
          Date.now = realNow;
          Math.random = realRandom;
          return Buffer.from(snapshot(sb)).equals(Buffer.from(snapshot(sa)));
        },
      ),
      { numRuns: 150 },
    );
  } finally {
    Date.now = realNow;
    Math.random = realRandom;
  }
  t.ok(compared > 50, `compared at ${compared} intermediate points as well as at the end`);
});

t.test('snapshot then restore gives the same state and the same bytes', async (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 60, size: 'max' }), (entries) => {
      const { state } = replay(entries);
      const bytes = snapshot(state);
      const restored = restore(bytes);
      t.same(restored, state);
      return Buffer.from(snapshot(restored)).equals(Buffer.from(bytes));
    }),
    { numRuns: 150 },
  );
  t.pass('150 random command sequences');
});

t.test('a restored replica continues exactly like the original', async (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 30, size: 'max' }), fc.array(entry, { maxLength: 30, size: 'max' }), (first, second) => {
      const original = replay(first);
      const copy = new Log();
      copy.state = initialState();
      copy.state = restore(snapshot(original.state));
      copy.index = original.index;
      for (const e of second) {
        original.runBytes(e);
        copy.runBytes(e);
      }
      return Buffer.from(snapshot(copy.state)).equals(Buffer.from(snapshot(original.state)));
    }),
    { numRuns: 100 },
  );
  t.pass('restore discards nothing that matters and keeps nothing stale');
});

t.test('snapshot then restore round-trips the state of any committed log, noops and membership changes included', async (t) => {
  fc.assert(
    fc.property(fc.array(payload, { maxLength: 60, size: 'max' }), fc.array(fc.boolean(), { maxLength: 60 }), (payloads, termSteps) => {
      const state = applyAll(pair().state, toEntries(payloads, termSteps));
      const restored = restore(snapshot(state));
      t.same(restored, state);
      return Buffer.from(snapshot(restored)).equals(Buffer.from(snapshot(state)));
    }),
    { numRuns: 150 },
  );
  t.pass('150 random committed logs');
});

t.test('key order does not change the bytes', async (t) => {
  const a = initialState();
  const reversed = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
  t.same(snapshot(reversed), snapshot(a));
});

t.test('restore refuses what it cannot read, with a clear error', async (t) => {
  t.throws(() => restore(packCanonical({ format: 'hapair-cluster-state', version: 2, state: {} })), {
    name: 'SnapshotFormatError',
    message: 'cluster state snapshot format version 2 is not supported (this node reads version 1); update this node',
  });
  t.throws(() => restore(packCanonical({ format: 'something-else', version: 1 })), SnapshotFormatError);
  t.throws(() => restore(new Uint8Array([0xc1])), SnapshotFormatError);
  t.throws(() => restore(packCanonical({ format: 'hapair-cluster-state', version: 1 })), { message: 'cluster state snapshot has no state' });
});
