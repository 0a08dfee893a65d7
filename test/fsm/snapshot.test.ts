import t from 'tap';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { encodeCommand, makeCommand, type ClusterCommand } from '../../src/fsm/commands.js';
import { SnapshotFormatError, restore, snapshot } from '../../src/fsm/snapshot.js';
import { packCanonical } from '../../src/fsm/canonical.js';
import { initialState } from '../../src/fsm/state.js';
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
  fc.tuple(id, fc.integer({ min: 1, max: 4 }), fc.constantFrom('failover', 'failback', 'bootstrap'), meta).map(([holder, epoch, reason, m]) =>
    makeCommand('grantLease', { holder, epoch, reason, term: epoch }, m),
  ),
  fc.tuple(id, fc.integer({ min: 0, max: 3 }), meta).map(([to, epoch, m]) => makeCommand('moveIntent', { to, reason: 'switchover', epoch }, m)),
  fc.tuple(id, fc.boolean(), meta).map(([node, on, m]) => makeCommand('setMaintenance', { node, on }, m)),
  fc.tuple(fc.string({ maxLength: 10 }), meta).map(([comment, m]) => makeCommand('createBackup', { comment }, m)),
  fc.tuple(fc.integer({ min: 4, max: 20 }), revision, meta).map(([i, ifRevision, m]) => makeCommand('restoreBackup', { id: `b${i}`, ifRevision }, m)),
  meta.map((m) => makeCommand('clearFlapDamping', {}, m)),
  meta.map((m) => makeCommand('addNote', { text: `note at ${m.at}` }, m)),
);

/** Every sequence is applied through its bytes, with a few undecodable entries mixed in. */
const entry = fc.oneof(
  { weight: 20, arbitrary: command.map((c) => encodeCommand(c)) },
  { weight: 1, arbitrary: fc.constant(new Packr({ useRecords: false }).pack({ type: 'setPolicy', v: 99, at: at(0), principal: 'x' })) },
);

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
