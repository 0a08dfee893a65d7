/**
 * On-disk encoding of Raft state: msgpackr maps (no record extension, so a
 * value decodes without any state from earlier values) with a shape check
 * on every decode. Binary payloads come back as plain Uint8Array copies, not
 * Buffer views into LevelDB's read buffers.
 */
import { Packr } from 'msgpackr';
import type { Entry, EntryPayload, HardState, Member, Membership, MembershipChange, SnapshotMeta } from '../raft/types.js';

const packr = new Packr({ useRecords: false });

/** Thrown by decoders; the caller turns it into StorageCorruptError with the key it was reading. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export interface FormatRecord {
  readonly format: string;
  readonly version: number;
}

/** The snapshot's metadata as stored; its data lives under a key of its own. */
export interface StoredSnapshotMeta extends SnapshotMeta {
  readonly dataBytes: number;
}

/** Written once LevelDB reported dropping damaged records: the store must not be used again. */
export interface RecoveryReport {
  readonly lines: readonly string[];
}

export function encode(value: FormatRecord | HardState | Entry | StoredSnapshotMeta | RecoveryReport): Uint8Array {
  return packr.pack(value);
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    throw new DecodeError(`not valid msgpack (${error instanceof Error ? error.message : String(error)})`);
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new DecodeError(`${what} is not a map`);
  return v as Obj;
}

function int(o: Obj, field: string, what: string, min: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new DecodeError(`${what}.${field} is not an integer >= ${min}`);
  return v;
}

function str(o: Obj, field: string, what: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new DecodeError(`${what}.${field} is not a string`);
  return v;
}

/** A fresh plain Uint8Array: msgpackr hands out Buffer views into the source bytes. */
export function plainBytes(v: Uint8Array): Uint8Array {
  return v.constructor === Uint8Array ? v : new Uint8Array(v);
}

function bytes(o: Obj, field: string, what: string): Uint8Array {
  const v = o[field];
  if (!(v instanceof Uint8Array)) throw new DecodeError(`${what}.${field} is not binary`);
  return new Uint8Array(v);
}

export function decodeFormat(raw: Uint8Array): FormatRecord {
  const o = obj(unpack(raw), 'format record');
  return { format: str(o, 'format', 'format record'), version: int(o, 'version', 'format record', 0) };
}

export function decodeRecoveryReport(raw: Uint8Array): RecoveryReport {
  const o = obj(unpack(raw), 'recovery report');
  const lines = o['lines'];
  if (!Array.isArray(lines) || !lines.every((l) => typeof l === 'string')) throw new DecodeError('recovery report.lines is not a list of strings');
  return { lines };
}

export function decodeHardState(raw: Uint8Array): HardState {
  const o = obj(unpack(raw), 'hard state');
  const vote = o['vote'];
  if (vote !== null && typeof vote !== 'string') throw new DecodeError('hard state.vote is neither a node id nor null');
  return { term: int(o, 'term', 'hard state', 0), vote, commit: int(o, 'commit', 'hard state', 0) };
}

export function decodeEntry(raw: Uint8Array): Entry {
  const o = obj(unpack(raw), 'entry');
  return { index: int(o, 'index', 'entry', 1), term: int(o, 'term', 'entry', 1), payload: decodePayload(o['payload']) };
}

function decodePayload(v: unknown): EntryPayload {
  const o = obj(v, 'entry payload');
  const type = o['type'];
  switch (type) {
    case 'noop':
      return { type };
    case 'command':
      return { type, data: bytes(o, 'data', 'command payload') };
    case 'membership':
      return { type, change: decodeChange(o['change']) };
    default:
      throw new DecodeError(`entry payload has unknown type ${JSON.stringify(type)}`);
  }
}

function decodeChange(v: unknown): MembershipChange {
  const o = obj(v, 'membership change');
  const op = o['op'];
  switch (op) {
    case 'addLearner':
      return { op, member: decodeMember(o['member']) };
    case 'promote':
    case 'remove':
      return { op, id: str(o, 'id', 'membership change') };
    default:
      throw new DecodeError(`membership change has unknown op ${JSON.stringify(op)}`);
  }
}

function decodeMember(v: unknown): Member {
  const o = obj(v, 'member');
  const kind = o['kind'];
  if (kind !== 'data' && kind !== 'witness') throw new DecodeError(`member has unknown kind ${JSON.stringify(kind)}`);
  return { id: str(o, 'id', 'member'), kind, peer: str(o, 'peer', 'member') };
}

function decodeMembers(v: unknown, what: string): Member[] {
  if (!Array.isArray(v)) throw new DecodeError(`${what} is not a list`);
  return v.map(decodeMember);
}

function decodeMembership(v: unknown): Membership {
  const o = obj(v, 'membership');
  return { voters: decodeMembers(o['voters'], 'membership.voters'), learners: decodeMembers(o['learners'], 'membership.learners') };
}

export function decodeSnapshotMeta(raw: Uint8Array): StoredSnapshotMeta {
  const o = obj(unpack(raw), 'snapshot meta');
  return {
    index: int(o, 'index', 'snapshot meta', 0),
    term: int(o, 'term', 'snapshot meta', 0),
    membership: decodeMembership(o['membership']),
    dataBytes: int(o, 'dataBytes', 'snapshot meta', 0),
  };
}
