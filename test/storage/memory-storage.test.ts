import t from 'tap';
import { StorageWriteError } from '../../src/storage/errors.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { MEMBERSHIP, run } from './helpers.js';
import { roundTripSuite } from './round-trip-suite.js';

t.test('round trip (memory)', async (t) => {
  roundTripSuite(t, () => {
    let last: MemoryStorage | null = null;
    return async () => {
      last = last === null ? new MemoryStorage() : last.durableCopy();
      return last;
    };
  });
});

t.test('durableCopy is a snapshot in time: later writes do not leak into it', async (t) => {
  const store = new MemoryStorage('n1');
  await store.load(MEMBERSHIP);
  await store.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: run(1, 3, 1), snapshot: null }, true);
  const crashed = store.durableCopy();
  await store.persist({ hardState: { term: 2, vote: 'b', commit: 1 }, entries: run(2, 5, 2), snapshot: null }, true);
  const state = await crashed.load(MEMBERSHIP);
  t.same(state.hardState, { term: 1, vote: 'a', commit: 0 });
  t.same(state.entries, run(1, 3, 1));
  t.equal(crashed.path, 'memory:n1');
});

t.test('failWrites makes writes reject with StorageWriteError and apply nothing', async (t) => {
  const store = new MemoryStorage();
  await store.load(MEMBERSHIP);
  await store.persist({ hardState: null, entries: run(1, 2, 1), snapshot: null }, true);
  const disk = new Error('ENOSPC: no space left on device');
  store.failWrites(disk);
  const error = await store.persist({ hardState: null, entries: run(3, 4, 1), snapshot: null }, true).catch((e: unknown) => e);
  t.type(error, StorageWriteError);
  t.equal((error as StorageWriteError).cause, disk);
  t.match((error as Error).message, /memory:memory.*ENOSPC/);
  store.failWrites(null);
  const state = await store.durableCopy().load(null);
  t.same(state.entries, run(1, 2, 1));
});
