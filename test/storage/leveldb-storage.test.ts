import { join } from 'node:path';
import t from 'tap';
import type { ClassicLevel } from 'classic-level';
import { StorageWriteError } from '../../src/storage/errors.js';
import { LevelDbStorage } from '../../src/storage/leveldb-storage.js';
import { MEMBERSHIP, run, tempDir } from './helpers.js';
import { roundTripSuite } from './round-trip-suite.js';

t.test('round trip (LevelDB)', async (t) => {
  roundTripSuite(t, (t) => {
    const dir = join(tempDir(t), 'raft');
    return () => LevelDbStorage.open(dir);
  });
});

t.test('creates the store in a missing or empty directory, names it absolutely', async (t) => {
  const base = tempDir(t);
  const deep = join(base, 'a', 'b', 'raft');
  const store = await LevelDbStorage.open(deep);
  t.equal(store.path, deep);
  t.same((await store.load(null)).entries, []);
  await store.close();
  await store.close(); // idempotent

  const empty = tempDir(t);
  const second = await LevelDbStorage.open(empty);
  await second.load(null);
  await second.persist({ hardState: { term: 1, vote: null, commit: 0 }, entries: run(1, 1, 1), snapshot: null }, true);
  await second.close();
  const again = await LevelDbStorage.open(empty);
  t.same((await again.load(null)).entries, run(1, 1, 1));
  await again.close();
});

t.test('a write error surfaces as StorageWriteError with its cause and poisons the store', async (t) => {
  const dir = tempDir(t);
  const store = await LevelDbStorage.open(dir);
  await store.load(MEMBERSHIP);
  await store.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: run(1, 2, 1), snapshot: null }, true);
  // A real ENOSPC needs a tiny filesystem; closing the database underneath
  // makes LevelDB itself refuse the batch, which exercises the same path.
  const db = Reflect.get(store, 'db') as ClassicLevel<string, Uint8Array>;
  await db.close();
  const error = await store.persist({ hardState: null, entries: run(3, 3, 1), snapshot: null }, true).catch((e: unknown) => e);
  t.type(error, StorageWriteError);
  t.ok((error as Error).cause instanceof Error, 'keeps the cause');
  t.match((error as Error).message, dir);
  await db.open();
  const later = await store.persist({ hardState: null, entries: run(3, 3, 1), snapshot: null }, true).catch((e: unknown) => e);
  t.type(later, StorageWriteError, 'no writes after a failed one, even if the disk recovered');
  await store.close();
  const reopened = await LevelDbStorage.open(dir);
  t.same((await reopened.load(null)).entries, run(1, 2, 1), 'nothing of the failed batches landed');
  await reopened.close();
});
