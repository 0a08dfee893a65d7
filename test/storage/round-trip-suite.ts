/**
 * The RaftStorage contract, run against every implementation: what is
 * written comes back after a reopen, exactly, with the Ready semantics for
 * conflicts and snapshots.
 */
import type { Test } from 'tap';
import type { Entry, HardState, InitialState, Snapshot } from '../../src/raft/types.js';
import type { RaftStorage } from '../../src/storage/raft-storage.js';
import { AssertionError } from '../../src/util/assert.js';
import { binaryIsPlain, command, MEMBERSHIP, run } from './helpers.js';

/** Opens the same underlying store again, as a restarted process would (the previous instance is closed first). */
export type OpenStore = () => Promise<RaftStorage>;

/** Each subtest gets its own empty store. */
export type MakeStore = (t: Test) => OpenStore;

const HS: HardState = { term: 3, vote: 'b', commit: 2 };

function snapshot(index: number, term: number, bytes: readonly number[]): Snapshot {
  return { meta: { index, term, membership: MEMBERSHIP }, data: Uint8Array.from(bytes) };
}

async function reopen(previous: RaftStorage, open: OpenStore): Promise<{ store: RaftStorage; state: InitialState }> {
  await previous.close();
  const store = await open();
  const state = await store.load(MEMBERSHIP);
  return { store, state };
}

function indices(entries: readonly Entry[]): number[] {
  return entries.map((e) => e.index);
}

export function roundTripSuite(t: Test, make: MakeStore): void {
  t.test('a brand new store is empty and hands back the bootstrap membership', async (t) => {
    const open = make(t);
    const store = await open();
    const state = await store.load(MEMBERSHIP);
    t.same(state, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], bootstrap: MEMBERSHIP });
    const again = await reopen(store, open);
    t.same(again.state.bootstrap, MEMBERSHIP, 'still new after a reopen without writes');
    await again.store.close();
  });

  t.test('hard state and every payload kind round-trip exactly, binary as Uint8Array', async (t) => {
    const open = make(t);
    const store = await open();
    await store.load(MEMBERSHIP);
    const entries: Entry[] = [
      { index: 1, term: 1, payload: { type: 'noop' } },
      command(2, 1, [0, 1, 2, 0xff, 0x80, 0x7f]),
      command(3, 2, []),
      { index: 4, term: 2, payload: { type: 'membership', change: { op: 'addLearner', member: { id: 'c', kind: 'data', peer: '[::1]:7004' } } } },
      { index: 5, term: 3, payload: { type: 'membership', change: { op: 'promote', id: 'c' } } },
      { index: 6, term: 3, payload: { type: 'membership', change: { op: 'remove', id: 'w' } } },
      command(7, 3, Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)),
    ];
    await store.persist({ hardState: HS, entries: entries.slice(0, 3), snapshot: null }, true);
    await store.persist({ hardState: null, entries: entries.slice(3), snapshot: null }, false);
    const { store: s2, state } = await reopen(store, open);
    t.same(state.hardState, HS);
    t.equal(state.snapshot, null);
    t.same(state.entries, entries);
    t.ok(binaryIsPlain(state.entries), 'command data decodes as plain Uint8Array');
    t.equal(state.bootstrap, null, 'no bootstrap once the log has entries');
    await s2.close();
  });

  t.test('a hard state alone leaves the log empty, so bootstrap is still handed back', async (t) => {
    const open = make(t);
    const store = await open();
    await store.load(MEMBERSHIP);
    await store.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: [], snapshot: null }, true);
    const { store: s2, state } = await reopen(store, open);
    t.same(state.hardState, { term: 1, vote: 'a', commit: 0 });
    t.same(state.bootstrap, MEMBERSHIP);
    await s2.close();
  });

  t.test('entries at or below the last index replace the stored suffix', async (t) => {
    const open = make(t);
    let store = await open();
    await store.load(MEMBERSHIP);
    await store.persist({ hardState: { term: 1, vote: 'a', commit: 3 }, entries: run(1, 10, 1), snapshot: null }, true);
    // A shorter conflicting suffix: 8..10 must disappear, not linger after 7.
    await store.persist({ hardState: { term: 2, vote: 'b', commit: 3 }, entries: run(6, 7, 2), snapshot: null }, true);
    let state: InitialState;
    ({ store, state } = await reopen(store, open));
    t.same(state.entries, [...run(1, 5, 1), ...run(6, 7, 2)]);

    // Appending after the truncation continues from the new last index.
    await store.persist({ hardState: null, entries: run(8, 9, 2), snapshot: null }, true);
    // A longer conflicting suffix replaces and extends.
    await store.persist({ hardState: { term: 3, vote: 'a', commit: 3 }, entries: run(4, 12, 3), snapshot: null }, true);
    ({ store, state } = await reopen(store, open));
    t.same(state.entries, [...run(1, 3, 1), ...run(4, 12, 3)]);
    await store.close();
  });

  t.test('a snapshot from the leader replaces the whole stored log', async (t) => {
    const open = make(t);
    let store = await open();
    await store.load(MEMBERSHIP);
    await store.persist({ hardState: { term: 1, vote: 'a', commit: 4 }, entries: run(1, 10, 1), snapshot: null }, true);
    const snap6 = snapshot(6, 1, [6, 6, 6]);
    await store.persist({ hardState: { term: 1, vote: 'a', commit: 6 }, entries: [], snapshot: snap6 }, true);
    let state: InitialState;
    ({ store, state } = await reopen(store, open));
    t.same(state.snapshot, snap6);
    t.equal(state.snapshot?.data.constructor, Uint8Array, 'snapshot data decodes as plain Uint8Array');
    t.same(indices(state.entries), [], 'entries after the snapshot conflict with it and are gone');
    t.same(state.hardState.commit, 6);
    t.equal(state.bootstrap, null);

    // A snapshot beyond the log replaces all of it; the log then continues after it.
    const snap20 = snapshot(20, 2, [20]);
    await store.persist({ hardState: { term: 2, vote: null, commit: 20 }, entries: [], snapshot: snap20 }, true);
    await store.persist({ hardState: null, entries: run(21, 22, 2), snapshot: null }, true);
    ({ store, state } = await reopen(store, open));
    t.same(state.snapshot, snap20);
    t.same(indices(state.entries), [21, 22]);

    // Snapshot and entries in one batch: entries it already covers are skipped.
    const snap25 = snapshot(25, 2, [25, 25]);
    await store.persist({ hardState: { term: 2, vote: null, commit: 25 }, entries: run(23, 27, 2), snapshot: snap25 }, true);
    ({ store, state } = await reopen(store, open));
    t.same(state.snapshot, snap25);
    t.same(state.entries, run(26, 27, 2));
    await store.close();
  });

  t.test('a local snapshot drops the entries it covers', async (t) => {
    const open = make(t);
    let store = await open();
    await store.load(MEMBERSHIP);
    await store.persist({ hardState: { term: 1, vote: 'a', commit: 10 }, entries: run(1, 10, 1), snapshot: null }, true);
    const snap5 = snapshot(5, 1, [5]);
    await store.saveLocalSnapshot(snap5);
    let state: InitialState;
    ({ store, state } = await reopen(store, open));
    t.same(state.snapshot, snap5);
    t.same(state.entries, run(6, 10, 1));

    const snap10 = snapshot(10, 1, Array.from({ length: 5000 }, (_, i) => i & 0xff));
    await store.saveLocalSnapshot(snap10);
    ({ store, state } = await reopen(store, open));
    t.same(state.snapshot, snap10);
    t.same(state.entries, []);
    t.equal(state.bootstrap, null, 'a snapshot means the cluster exists: no bootstrap');
    await store.persist({ hardState: null, entries: run(11, 11, 1), snapshot: null }, true);
    ({ store, state } = await reopen(store, open));
    t.same(indices(state.entries), [11]);
    await store.close();
  });

  t.test('contract violations are programmer errors and change nothing', async (t) => {
    const open = make(t);
    const store = await open();
    await store.load(MEMBERSHIP);
    await store.persist({ hardState: HS, entries: run(1, 5, 2), snapshot: null }, true);
    await t.rejects(store.persist({ hardState: null, entries: run(7, 8, 2), snapshot: null }, true), AssertionError, 'gap after the last index');
    await t.rejects(store.persist({ hardState: null, entries: [...run(6, 6, 2), ...run(8, 8, 2)], snapshot: null }, true), AssertionError, 'gap inside the batch');
    await t.rejects(store.persist({ hardState: null, entries: [...run(6, 6, 3), ...run(7, 7, 2)], snapshot: null }, true), AssertionError, 'decreasing terms');
    await t.rejects(store.saveLocalSnapshot(snapshot(6, 2, [])), AssertionError, 'local snapshot beyond the log');
    await store.saveLocalSnapshot(snapshot(3, 2, [3]));
    await t.rejects(store.persist({ hardState: null, entries: [], snapshot: snapshot(2, 2, []) }, true), AssertionError, 'snapshot older than the stored one');
    const { store: reopened, state } = await reopen(store, open);
    t.same(state.hardState, HS);
    t.same(state.snapshot?.meta.index, 3);
    t.same(state.entries, run(4, 5, 2));
    await reopened.close();
  });
}
