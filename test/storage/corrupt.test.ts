/**
 * A damaged or foreign store stops the node at start with an error naming
 * the path and the problem, and is left as it was: never reset or repaired.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import t, { type Test } from 'tap';
import { Packr } from 'msgpackr';
import { StorageCorruptError, StorageLockedError, StorageOpenError } from '../../src/storage/errors.js';
import { entryKey, LevelDbStorage } from '../../src/storage/leveldb-storage.js';
import { dataFileHashes, MEMBERSHIP, run, tempDir } from './helpers.js';

/** A valid store with entries 1..count (term 1) and a matching hard state. */
async function validStore(t: Test, count = 20): Promise<string> {
  const dir = tempDir(t);
  const store = await LevelDbStorage.open(dir);
  await store.load(MEMBERSHIP);
  await store.persist({ hardState: { term: 1, vote: 'a', commit: count }, entries: run(1, count, 1), snapshot: null }, true);
  await store.close();
  return dir;
}

/** Opens and loads; returns the error it must fail with. */
async function openFailure(dir: string): Promise<unknown> {
  let store: LevelDbStorage | null = null;
  try {
    store = await LevelDbStorage.open(dir);
    await store.load(MEMBERSHIP);
  } catch (error) {
    return error;
  } finally {
    await store?.close();
  }
  return null;
}

/** Writes through LevelDB directly, bypassing the storage layer's checks. */
async function rawEdit(dir: string, edit: (db: ClassicLevel<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: false });
  await db.open();
  try {
    await edit(db);
  } finally {
    await db.close();
  }
}

/** Every key and value, hex-encoded. A successful LevelDB open rewrites files (recovery), so content is what must not change. */
async function rawDump(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await rawEdit(dir, async (db) => {
    for await (const [key, value] of db.iterator()) out[key] = Buffer.from(value).toString('hex');
  });
  return out;
}

const packr = new Packr({ useRecords: false });

t.test('junk in CURRENT: open fails naming the path, files untouched, still failing later', async (t) => {
  const dir = await validStore(t);
  writeFileSync(join(dir, 'CURRENT'), 'this is not a manifest name');
  const before = dataFileHashes(dir);
  for (const attempt of [1, 2]) {
    const error = await openFailure(dir);
    t.type(error, StorageCorruptError, `attempt ${attempt}`);
    t.match((error as Error).message, dir);
    t.match((error as Error).message, /CURRENT/);
    t.same(dataFileHashes(dir), before, `attempt ${attempt}: data files unchanged`);
  }
});

t.test('CURRENT naming a missing manifest: open fails naming the path, files untouched', async (t) => {
  const dir = await validStore(t);
  writeFileSync(join(dir, 'CURRENT'), 'MANIFEST-999999\n');
  const before = dataFileHashes(dir);
  const error = await openFailure(dir);
  t.type(error, StorageOpenError);
  t.match((error as Error).message, dir);
  t.same(dataFileHashes(dir), before);
});

t.test('junk in a table file: load fails naming the path; the table is left as it was', async (t) => {
  const dir = await validStore(t);
  // Reopening moves the write-ahead log into a table file.
  const store = await LevelDbStorage.open(dir);
  await store.close();
  const table = readdirSync(dir).find((name) => name.endsWith('.ldb'));
  if (table === undefined) throw new Error(`no table file in ${readdirSync(dir).join(', ')}`);
  const junk = Buffer.alloc(readFileSync(join(dir, table)).length, 0x5a);
  writeFileSync(join(dir, table), junk);
  for (const attempt of [1, 2]) {
    const error = await openFailure(dir);
    t.type(error, StorageCorruptError, `attempt ${attempt}`);
    t.match((error as Error).message, dir);
    t.same(readFileSync(join(dir, table)), junk, `attempt ${attempt}: the damaged table is still there, unrepaired`);
  }
});

t.test('damage in the middle of the write-ahead log: LevelDB drops records, the store refuses to start, for good', async (t) => {
  const dir = await validStore(t, 200);
  const log = readdirSync(dir).find((name) => name.endsWith('.log'));
  if (log === undefined) throw new Error('no write-ahead log');
  const bytes = readFileSync(join(dir, log));
  t.ok(bytes.length > 2000, 'the entries are in the write-ahead log');
  bytes.fill(0x5a, 1000, 1100);
  writeFileSync(join(dir, log), bytes);
  for (const attempt of [1, 2]) {
    const error = await openFailure(dir);
    t.type(error, StorageCorruptError, `attempt ${attempt}`);
    t.match((error as Error).message, dir);
    t.match((error as Error).message, /dropped damaged write-ahead-log records/);
  }
});

t.test('a gap in the log: StorageCorruptError naming the path and the missing index', async (t) => {
  const dir = await validStore(t);
  await rawEdit(dir, (db) => db.del(entryKey(7)));
  const before = await rawDump(dir);
  const error = await openFailure(dir);
  t.type(error, StorageCorruptError);
  t.match((error as Error).message, dir);
  t.match((error as Error).message, /entry 7 is missing before entry 8/);
  t.same(await rawDump(dir), before, 'content unchanged by the failed load');
});

t.test('an undecodable entry: StorageCorruptError naming the path and the index', async (t) => {
  const dir = await validStore(t);
  await rawEdit(dir, (db) => db.put(entryKey(5), Uint8Array.from([0xc1, 0xff, 0x00])));
  const error = await openFailure(dir);
  t.type(error, StorageCorruptError);
  t.match((error as Error).message, dir);
  t.match((error as Error).message, /entry 5 cannot be decoded/);
});

t.test('other whole-store checks each name what is wrong', async (t) => {
  const cases: { name: string; edit: (db: ClassicLevel<string, Uint8Array>) => Promise<void>; problem: RegExp }[] = [
    {
      name: 'entry under the wrong key',
      edit: (db) => db.put(entryKey(4), packr.pack({ index: 9, term: 1, payload: { type: 'noop' } })),
      problem: /entry 4 says it is entry 9/,
    },
    {
      name: 'entry term zero',
      edit: (db) => db.put(entryKey(20), packr.pack({ index: 20, term: 0, payload: { type: 'noop' } })),
      problem: /entry 20 cannot be decoded: entry.term is not an integer >= 1/,
    },
    {
      name: 'term going down',
      edit: async (db) => {
        await db.put(entryKey(19), packr.pack({ index: 19, term: 2, payload: { type: 'noop' } }));
        await db.put('m/hard-state', packr.pack({ term: 2, vote: null, commit: 1 }));
      },
      problem: /entry 20 has term 1, lower than term 2/,
    },
    { name: 'commit beyond the log', edit: (db) => db.put('m/hard-state', packr.pack({ term: 1, vote: null, commit: 21 })), problem: /commit index 21 is beyond the last stored entry 20/ },
    { name: 'unknown payload type', edit: (db) => db.put(entryKey(3), packr.pack({ index: 3, term: 1, payload: { type: 'mystery' } })), problem: /entry 3 cannot be decoded: .*unknown type/ },
    { name: 'unknown format version', edit: (db) => db.put('m/format', packr.pack({ format: 'hapair-raft', version: 99 })), problem: /format version 99 is not known/ },
    { name: 'missing format record', edit: (db) => db.del('m/format'), problem: /no format record/ },
    { name: 'a stray key', edit: (db) => db.put('x/other', Uint8Array.from([1])), problem: /unknown key "x\/other"/ },
    { name: 'snapshot data without metadata', edit: (db) => db.put('m/snapshot-data', Uint8Array.from([1])), problem: /snapshot is incomplete/ },
  ];
  for (const c of cases) {
    const dir = await validStore(t);
    await rawEdit(dir, c.edit);
    const before = await rawDump(dir);
    const error = await openFailure(dir);
    t.type(error, StorageCorruptError, c.name);
    t.same(await rawDump(dir), before, `${c.name}: content unchanged`);
    t.match((error as Error).message, dir, `${c.name}: names the path`);
    t.match((error as StorageCorruptError).problem, c.problem, `${c.name}: names the problem`);
  }
});

t.test('a non-empty directory that is not a store is refused, not written into', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  const error = await openFailure(dir);
  t.type(error, StorageCorruptError);
  t.match((error as Error).message, dir);
  t.same(readdirSync(dir), ['notes.txt']);
});

t.test('a second open in the same process gets the locked error', async (t) => {
  const dir = await validStore(t);
  const first = await LevelDbStorage.open(dir);
  t.teardown(() => first.close());
  const error = await openFailure(dir);
  t.type(error, StorageLockedError);
  t.match((error as Error).message, dir);
  t.match((error as Error).message, /another process/);
  const state = await first.load(MEMBERSHIP);
  t.equal(state.entries.length, 20, 'the first holder is unaffected');
});

t.test('an open while another process holds the store gets the locked error', async (t) => {
  const dir = await validStore(t);
  const writer = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  // The first ack means the child has the store open.
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
  const error = await openFailure(dir);
  t.type(error, StorageLockedError);
  t.match((error as Error).message, dir);
});
