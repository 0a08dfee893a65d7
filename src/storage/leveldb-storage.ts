/**
 * Durable Raft state in a LevelDB directory (classic-level).
 *
 * Layout (utf8 keys, msgpackr values; 'e/' sorts before 'm/'):
 *   e/<index, 16 zero-padded digits>  Entry (carries its own index, checked against the key)
 *   m/format                          { format: 'hapair-raft', version: 1 }
 *   m/hard-state                      HardState
 *   m/snapshot-meta                   SnapshotMeta + dataBytes
 *   m/snapshot-data                   raw snapshot bytes
 * Zero-padding makes lexicographic key order numeric order, so the log is
 * one ordered range. Every write is one LevelDB batch: atomic across a crash.
 *
 * A store is created with its format record in a side directory and renamed
 * into place, so an existing directory without that record is never "new":
 * if LevelDB drops unreadable data on recovery, load() reports it instead of
 * handing the node an empty log.
 *
 * LevelDB (classic-level cannot turn on paranoid_checks) silently drops
 * write-ahead-log records that fail their checksum while recovering, and
 * then deletes that log. A torn tail from a crash is not reported that way;
 * damage in the middle is, in the info LOG. open() looks for that report
 * and, if found, records it under m/recovery-dropped so the refusal to start
 * survives later opens, and throws StorageCorruptError.
 */
import { mkdir, open as openFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Entry, HardState, InitialState, Membership, Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import {
  DecodeError,
  decodeEntry,
  decodeFormat,
  decodeHardState,
  decodeRecoveryReport,
  decodeSnapshotMeta,
  encode,
  plainBytes,
  type StoredSnapshotMeta,
} from './codec.js';
import { errorCode, errorDetail, StorageCorruptError, StorageLockedError, StorageOpenError, StorageWriteError } from './errors.js';
import { planLocalSnapshot, planPersist, type LogBounds, type PersistPlan } from './persist-plan.js';
import type { PersistBatch, RaftStorage } from './raft-storage.js';

export const STORE_FORMAT = 'hapair-raft';
export const STORE_VERSION = 1;

const FORMAT_KEY = 'm/format';
const HARD_STATE_KEY = 'm/hard-state';
const SNAPSHOT_META_KEY = 'm/snapshot-meta';
const SNAPSHOT_DATA_KEY = 'm/snapshot-data';
const RECOVERY_DROPPED_KEY = 'm/recovery-dropped';
const ENTRY_PREFIX = 'e/';
const ENTRY_KEY_RE = /^e\/(\d{16})$/;
/** Values read per iterator step when loading. */
const LOAD_READ_CHUNK = 1024;

type Db = ClassicLevel<string, Uint8Array>;

export function entryKey(index: number): string {
  assert(Number.isSafeInteger(index) && index >= 0, `entry index ${index} is not a safe integer`);
  return ENTRY_PREFIX + String(index).padStart(16, '0');
}

/** Everything load() found, before it is checked as a whole. */
interface RawState {
  format: Uint8Array | null;
  hardState: Uint8Array | null;
  snapshotMeta: Uint8Array | null;
  snapshotData: Uint8Array | null;
  recoveryDropped: Uint8Array | null;
  entries: { key: string; index: number; value: Uint8Array }[];
}

export class LevelDbStorage implements RaftStorage {
  private bounds: LogBounds | null = null;
  private writing = false;
  private writeFailure: StorageWriteError | null = null;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly db: Db,
  ) {}

  /**
   * Opens the store at `path`, creating it if the directory is missing or
   * empty. A directory with other content and no LevelDB store in it is
   * refused rather than written into.
   */
  static async open(path: string): Promise<LevelDbStorage> {
    const absolute = resolve(path);
    const state = await inspectDir(absolute);
    if (state === 'foreign') {
      throw new StorageCorruptError(absolute, 'the directory is not empty but holds no LevelDB store (no CURRENT file); refusing to create one over it');
    }
    if (state === 'absent') await createStore(absolute);
    const db: Db = new ClassicLevel<string, Uint8Array>(absolute, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      createIfMissing: false,
    });
    try {
      await db.open();
    } catch (error) {
      throw openError(absolute, error);
    }
    await refuseIfRecoveryDropped(absolute, db);
    return new LevelDbStorage(absolute, db);
  }

  async load(bootstrap: Membership | null): Promise<InitialState> {
    assert(this.bounds === null, 'load() called twice');
    assert(!this.closed, 'load() after close()');
    const raw = await this.readAll();
    const state = this.validate(raw);
    this.bounds = {
      snapshotIndex: state.snapshot?.meta.index ?? 0,
      lastIndex: state.entries[state.entries.length - 1]?.index ?? state.snapshot?.meta.index ?? 0,
    };
    const empty = state.snapshot === null && state.entries.length === 0;
    return { ...state, bootstrap: empty ? bootstrap : null };
  }

  async persist(batch: PersistBatch, sync: boolean): Promise<void> {
    const plan = planPersist(this.loadedBounds(), batch);
    await this.write(plan, sync);
  }

  async saveLocalSnapshot(snapshot: Snapshot): Promise<void> {
    const plan = planLocalSnapshot(this.loadedBounds(), snapshot);
    await this.write(plan, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private loadedBounds(): LogBounds {
    assert(this.bounds !== null, 'write before load()');
    assert(!this.closed, 'write after close()');
    assert(!this.writing, 'overlapping writes: the driver must await each persist');
    return this.bounds;
  }

  private async write(plan: PersistPlan, sync: boolean): Promise<void> {
    if (this.writeFailure !== null) {
      throw new StorageWriteError(this.path, 'an earlier write failed; the store takes no more writes', { cause: this.writeFailure });
    }
    const empty = plan.deleteRanges.length === 0 && plan.snapshot === null && plan.entries.length === 0 && plan.hardState === null;
    if (empty) return;
    this.writing = true;
    try {
      await this.writeBatch(plan, sync);
    } catch (error) {
      this.writeFailure = new StorageWriteError(this.path, errorDetail(error), { cause: error });
      throw this.writeFailure;
    } finally {
      this.writing = false;
    }
    this.bounds = plan.bounds;
  }

  /**
   * One LevelDB batch, chained: each operation goes straight to the native
   * WriteBatch. The array form costs a third more CPU per write
   * (abstract-level clones and re-encodes every operation), and a follower
   * writes once per append it receives.
   */
  private async writeBatch(plan: PersistPlan, sync: boolean): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const range of plan.deleteRanges) {
        for (let i = range.from; i <= range.to; i++) batch.del(entryKey(i));
      }
      if (plan.snapshot !== null) {
        const meta: StoredSnapshotMeta = { ...plan.snapshot.meta, dataBytes: plan.snapshot.data.byteLength };
        batch.put(SNAPSHOT_META_KEY, encode(meta));
        batch.put(SNAPSHOT_DATA_KEY, plan.snapshot.data);
      }
      for (const entry of plan.entries) batch.put(entryKey(entry.index), encode(entry));
      if (plan.hardState !== null) batch.put(HARD_STATE_KEY, encode(plan.hardState));
    } catch (error) {
      await batch.close().catch(() => undefined);
      throw error;
    }
    await batch.write({ sync });
  }

  private async readAll(): Promise<RawState> {
    const raw: RawState = {
      format: null,
      hardState: null,
      snapshotMeta: null,
      snapshotData: null,
      recoveryDropped: null,
      entries: [],
    };
    const iterator = this.db.iterator();
    try {
      while (true) {
        const chunk = await iterator.nextv(LOAD_READ_CHUNK);
        if (chunk.length === 0) break;
        for (const [key, value] of chunk) this.classify(raw, key, value);
      }
    } catch (error) {
      if (error instanceof StorageCorruptError) throw error;
      throw new StorageCorruptError(this.path, `reading the store failed (${errorDetail(error)})`, { cause: error });
    } finally {
      await iterator.close();
    }
    return raw;
  }

  private classify(raw: RawState, key: string, value: Uint8Array): void {
    switch (key) {
      case FORMAT_KEY:
        raw.format = value;
        return;
      case HARD_STATE_KEY:
        raw.hardState = value;
        return;
      case SNAPSHOT_META_KEY:
        raw.snapshotMeta = value;
        return;
      case SNAPSHOT_DATA_KEY:
        raw.snapshotData = value;
        return;
      case RECOVERY_DROPPED_KEY:
        raw.recoveryDropped = value;
        return;
    }
    const match = ENTRY_KEY_RE.exec(key);
    if (match === null) throw new StorageCorruptError(this.path, `unknown key ${JSON.stringify(key)}`);
    raw.entries.push({ key, index: Number(match[1]), value });
  }

  private decode<T>(what: string, value: Uint8Array, decoder: (raw: Uint8Array) => T): T {
    try {
      return decoder(value);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      throw new StorageCorruptError(this.path, `${what} cannot be decoded: ${error.message}`, { cause: error });
    }
  }

  /** The whole-store checks: anything a correct writer could not have produced is corruption. */
  private validate(raw: RawState): Omit<InitialState, 'bootstrap'> {
    const corrupt = (problem: string): StorageCorruptError => new StorageCorruptError(this.path, problem);

    if (raw.recoveryDropped !== null) {
      const report = this.decode('the recovery report', raw.recoveryDropped, decodeRecoveryReport);
      throw corrupt(droppedProblem(report.lines));
    }
    if (raw.format === null) {
      throw corrupt('it has no format record: it was not created by hapair, or LevelDB dropped unreadable data while recovering it');
    }
    const format = this.decode('the format record', raw.format, decodeFormat);
    if (format.format !== STORE_FORMAT) throw corrupt(`format ${JSON.stringify(format.format)} is not ${JSON.stringify(STORE_FORMAT)}`);
    if (format.version !== STORE_VERSION) {
      throw corrupt(`format version ${format.version} is not known to this build (it reads version ${STORE_VERSION})`);
    }

    let snapshot: Snapshot | null = null;
    if ((raw.snapshotMeta === null) !== (raw.snapshotData === null)) {
      throw corrupt(`the snapshot is incomplete (${raw.snapshotMeta === null ? 'data without metadata' : 'metadata without data'})`);
    }
    if (raw.snapshotMeta !== null && raw.snapshotData !== null) {
      const { dataBytes, ...meta } = this.decode('the snapshot metadata', raw.snapshotMeta, decodeSnapshotMeta);
      if (raw.snapshotData.byteLength !== dataBytes) {
        throw corrupt(`the snapshot at index ${meta.index} has ${raw.snapshotData.byteLength} data bytes, its metadata says ${dataBytes}`);
      }
      snapshot = { meta, data: plainBytes(raw.snapshotData) };
    }
    const snapshotIndex = snapshot?.meta.index ?? 0;

    const entries: Entry[] = [];
    let prevIndex = snapshotIndex;
    let prevTerm = snapshot?.meta.term ?? 0;
    for (const { index, value } of raw.entries) {
      if (index <= snapshotIndex) throw corrupt(`entry ${index} is still stored though the snapshot covers up to ${snapshotIndex}`);
      if (index !== prevIndex + 1) {
        const missing = index - 1 === prevIndex + 1 ? `entry ${prevIndex + 1} is` : `entries ${prevIndex + 1}..${index - 1} are`;
        throw corrupt(`the log has a gap: ${missing} missing before entry ${index}`);
      }
      const entry = this.decode(`entry ${index}`, value, decodeEntry);
      if (entry.index !== index) throw corrupt(`the value stored for entry ${index} says it is entry ${entry.index}`);
      if (entry.term < prevTerm) throw corrupt(`entry ${index} has term ${entry.term}, lower than term ${prevTerm} before it`);
      entries.push(entry);
      prevIndex = index;
      prevTerm = entry.term;
    }

    const hardState: HardState =
      raw.hardState === null ? { term: 0, vote: null, commit: 0 } : this.decode('the hard state', raw.hardState, decodeHardState);
    if (hardState.commit > prevIndex) throw corrupt(`the hard state's commit index ${hardState.commit} is beyond the last stored entry ${prevIndex}`);
    // A node adopts a term before it stores entries of that term, in the same or an earlier batch.
    if (hardState.term < prevTerm) throw corrupt(`the hard state's term ${hardState.term} is below the last log term ${prevTerm}`);
    return { hardState, snapshot, entries };
  }
}

/** What is at `path`: nothing usable yet, a LevelDB store, or something else. */
async function inspectDir(path: string): Promise<'absent' | 'store' | 'foreign'> {
  let names: string[];
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return 'foreign';
    names = await readdir(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 'absent';
    throw new StorageOpenError(path, errorDetail(error), { cause: error });
  }
  if (names.length === 0) return 'absent';
  return names.includes('CURRENT') ? 'store' : 'foreign';
}

/**
 * Builds a store with its format record beside `path` and renames it into
 * place, so a crash never leaves a half-created store that looks like a
 * damaged one.
 */
async function createStore(path: string): Promise<void> {
  const parent = dirname(path);
  const staging = resolve(parent, `.${basename(path)}.creating-${process.pid}`);
  try {
    await mkdir(parent, { recursive: true });
    await rm(staging, { recursive: true, force: true });
    const db = new ClassicLevel<string, Uint8Array>(staging, { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: true, errorIfExists: true });
    await db.open();
    try {
      await db.put(FORMAT_KEY, encode({ format: STORE_FORMAT, version: STORE_VERSION }), { sync: true });
    } finally {
      await db.close();
    }
  } catch (error) {
    throw new StorageOpenError(path, `creating a new store failed (${errorDetail(error)})`, { cause: error });
  }
  try {
    await rename(staging, path);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Another process created the store first: open that one (its lock arbitrates).
    const code = errorCode(error);
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
    throw new StorageOpenError(path, `moving the new store into place failed (${errorDetail(error)})`, { cause: error });
  }
  await syncDir(parent);
}

/** Makes the rename itself durable. */
async function syncDir(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const LEVELDB_INFO_LOG = 'LOG';
/** Bytes of the info LOG read; recovery reports come first and the file is recreated at each open. */
const INFO_LOG_READ_BYTES = 256 * 1024;

function droppedProblem(lines: readonly string[]): string {
  return `LevelDB dropped damaged write-ahead-log records while recovering it, so acknowledged entries may be lost (${lines.join(' | ')})`;
}

async function refuseIfRecoveryDropped(path: string, db: Db): Promise<void> {
  let text: string;
  try {
    const handle = await openFile(resolve(path, LEVELDB_INFO_LOG), 'r');
    try {
      const buffer = Buffer.alloc(INFO_LOG_READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    await db.close();
    throw new StorageOpenError(path, `cannot read LevelDB's recovery log (${errorDetail(error)})`, { cause: error });
  }
  const lines = text.split('\n').filter((line) => / dropping \d+ bytes/.test(line)).map((line) => line.trim());
  if (lines.length === 0) return;
  try {
    // Make the refusal stick: the damaged log is already gone, a second open would look clean.
    await db.put(RECOVERY_DROPPED_KEY, encode({ lines }), { sync: true });
  } finally {
    await db.close();
  }
  throw new StorageCorruptError(path, droppedProblem(lines));
}

function openError(path: string, error: unknown): Error {
  switch (errorCode(error)) {
    case 'LEVEL_LOCKED':
      return new StorageLockedError(path, { cause: error });
    case 'LEVEL_CORRUPTION':
      return new StorageCorruptError(path, `LevelDB cannot open it (${errorDetail(error)})`, { cause: error });
    default:
      return new StorageOpenError(path, errorDetail(error), { cause: error });
  }
}
