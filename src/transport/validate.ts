/**
 * Checks what arrives off the wire before the core sees it. Every field of
 * every Message variant is checked, and the result is a fresh object holding
 * only the known fields, so a garbled or hostile frame can neither smuggle
 * extra properties nor reach the core half-formed. Errors name the field.
 */
import type {
  Entry,
  EntryPayload,
  Member,
  Membership,
  MembershipChange,
  Message,
  MessageType,
  SnapshotMeta,
} from '../raft/types.js';
import { unreachable } from '../util/assert.js';

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };
export type MessageParseResult =
  | { readonly ok: true; readonly message: Message }
  | { readonly ok: false; readonly error: string };

/** Node ids are short names (the node config allows 63 characters); anything longer is garbage. */
export const MAX_NODE_ID_CHARS = 128;
/** Peer addresses are host:port; a DNS name is at most 253 characters. */
export const MAX_ADDRESS_CHARS = 300;
/** Members in one membership (a pair plus a witness, with room for changes in flight). */
export const MAX_MEMBERS = 64;

/** Thrown inside this module only, and turned into a result at its edge. */
class FieldError extends Error {
  constructor(readonly path: string, readonly problem: string) {
    super(`${path}: ${problem}`);
  }
}

const MESSAGE_TYPES: Record<MessageType, true> = {
  preVote: true,
  vote: true,
  preVoteResponse: true,
  voteResponse: true,
  append: true,
  appendResponse: true,
  heartbeat: true,
  heartbeatResponse: true,
  snapshot: true,
  snapshotResponse: true,
  timeoutNow: true,
  readIndex: true,
  readIndexResponse: true,
  propose: true,
};

function isMessageType(x: unknown): x is MessageType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(MESSAGE_TYPES, x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (x instanceof Uint8Array) return 'bytes';
  return typeof x;
}

/** A short, safe rendering of a hostile value for an error message. */
export function show(x: unknown): string {
  if (typeof x !== 'string') return describe(x);
  return JSON.stringify(x.length > 64 ? `${x.slice(0, 64)}...` : x);
}

function record(x: unknown, path: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) {
    throw new FieldError(path, `must be an object, got ${describe(x)}`);
  }
  return x as Record<string, unknown>;
}

function field(obj: Record<string, unknown>, key: string, path: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new FieldError(join(path, key), 'is missing');
  return obj[key];
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** An integer >= min that survives the trip through a double. */
function int(obj: Record<string, unknown>, key: string, path: string, min: number): number {
  const x = field(obj, key, path);
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) {
    throw new FieldError(join(path, key), `must be an integer, got ${describe(x)} ${typeof x === 'number' ? x : ''}`.trimEnd());
  }
  if (x < min) throw new FieldError(join(path, key), `must be >= ${min}, got ${x}`);
  return x;
}

function bool(obj: Record<string, unknown>, key: string, path: string): boolean {
  const x = field(obj, key, path);
  if (typeof x !== 'boolean') throw new FieldError(join(path, key), `must be a boolean, got ${describe(x)}`);
  return x;
}

function str(obj: Record<string, unknown>, key: string, path: string): string {
  const x = field(obj, key, path);
  if (typeof x !== 'string') throw new FieldError(join(path, key), `must be a string, got ${describe(x)}`);
  return x;
}

function nullableStr(obj: Record<string, unknown>, key: string, path: string): string | null {
  const x = field(obj, key, path);
  if (x === null) return null;
  if (typeof x !== 'string') throw new FieldError(join(path, key), `must be a string or null, got ${describe(x)}`);
  return x;
}

function boundedStr(obj: Record<string, unknown>, key: string, path: string, maxChars: number): string {
  const x = str(obj, key, path);
  if (x.length === 0) throw new FieldError(join(path, key), 'must not be empty');
  if (x.length > maxChars) throw new FieldError(join(path, key), `must be at most ${maxChars} characters, got ${x.length}`);
  return x;
}

function nodeId(obj: Record<string, unknown>, key: string, path: string): string {
  return boundedStr(obj, key, path, MAX_NODE_ID_CHARS);
}

/**
 * msgpackr hands out Node Buffers; the core is promised plain Uint8Arrays
 * (a view, not a copy: the decoder already copied the bytes out of the frame).
 */
function bytes(obj: Record<string, unknown>, key: string, path: string): Uint8Array {
  const x = field(obj, key, path);
  if (!(x instanceof Uint8Array)) throw new FieldError(join(path, key), `must be bytes, got ${describe(x)}`);
  return x.constructor === Uint8Array ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

function array(obj: Record<string, unknown>, key: string, path: string, maxItems: number): unknown[] {
  const x = field(obj, key, path);
  if (!Array.isArray(x)) throw new FieldError(join(path, key), `must be an array, got ${describe(x)}`);
  if (x.length > maxItems) throw new FieldError(join(path, key), `must have at most ${maxItems} items, got ${x.length}`);
  return x;
}

function parseMember(x: unknown, path: string): Member {
  const o = record(x, path);
  const kind = field(o, 'kind', path);
  if (kind !== 'data' && kind !== 'witness') {
    throw new FieldError(join(path, 'kind'), `must be "data" or "witness", got ${show(kind)}`);
  }
  return { id: nodeId(o, 'id', path), kind, peer: boundedStr(o, 'peer', path, MAX_ADDRESS_CHARS) };
}

function parseMembers(o: Record<string, unknown>, key: string, path: string): Member[] {
  const p = join(path, key);
  return array(o, key, path, MAX_MEMBERS).map((m, i) => parseMember(m, `${p}[${i}]`));
}

function parseMembership(x: unknown, path: string): Membership {
  const o = record(x, path);
  return { voters: parseMembers(o, 'voters', path), learners: parseMembers(o, 'learners', path) };
}

function parseMembershipChange(x: unknown, path: string): MembershipChange {
  const o = record(x, path);
  const op = field(o, 'op', path);
  switch (op) {
    case 'addLearner':
      return { op, member: parseMember(field(o, 'member', path), join(path, 'member')) };
    case 'promote':
    case 'remove':
      return { op, id: nodeId(o, 'id', path) };
    default:
      throw new FieldError(join(path, 'op'), `unknown membership change ${show(op)}`);
  }
}

function parsePayload(x: unknown, path: string): EntryPayload {
  const o = record(x, path);
  const type = field(o, 'type', path);
  switch (type) {
    case 'noop':
      return { type };
    case 'command':
      return { type, data: bytes(o, 'data', path) };
    case 'membership':
      return { type, change: parseMembershipChange(field(o, 'change', path), join(path, 'change')) };
    default:
      throw new FieldError(join(path, 'type'), `unknown entry payload ${show(type)}`);
  }
}

function parseEntry(x: unknown, path: string): Entry {
  const o = record(x, path);
  return {
    index: int(o, 'index', path, 1),
    term: int(o, 'term', path, 0),
    payload: parsePayload(field(o, 'payload', path), join(path, 'payload')),
  };
}

function parseSnapshotMeta(x: unknown, path: string): SnapshotMeta {
  const o = record(x, path);
  return {
    index: int(o, 'index', path, 0),
    term: int(o, 'term', path, 0),
    membership: parseMembership(field(o, 'membership', path), join(path, 'membership')),
  };
}

/** Entries in one append; far above any configured maxEntriesPerAppend, the frame size bounds it anyway. */
const MAX_ENTRIES_PER_MESSAGE = 1_000_000;

function parseFields(o: Record<string, unknown>, type: MessageType): Message {
  const from = nodeId(o, 'from', '');
  const to = nodeId(o, 'to', '');
  const term = int(o, 'term', '', 0);
  switch (type) {
    case 'preVote':
      return { type, from, to, term, lastLogIndex: int(o, 'lastLogIndex', '', 0), lastLogTerm: int(o, 'lastLogTerm', '', 0) };
    case 'vote':
      return {
        type,
        from,
        to,
        term,
        lastLogIndex: int(o, 'lastLogIndex', '', 0),
        lastLogTerm: int(o, 'lastLogTerm', '', 0),
        transfer: bool(o, 'transfer', ''),
      };
    case 'preVoteResponse':
    case 'voteResponse':
      return { type, from, to, term, granted: bool(o, 'granted', '') };
    case 'append': {
      const prevIndex = int(o, 'prevIndex', '', 0);
      const prevTerm = int(o, 'prevTerm', '', 0);
      const entries = array(o, 'entries', '', MAX_ENTRIES_PER_MESSAGE).map((e, i) => parseEntry(e, `entries[${i}]`));
      // An append carries a contiguous run right after prevIndex; anything else would corrupt the follower's log.
      entries.forEach((e, i) => {
        if (e.index !== prevIndex + 1 + i) {
          throw new FieldError(`entries[${i}].index`, `must be ${prevIndex + 1 + i} (prevIndex + ${1 + i}), got ${e.index}`);
        }
      });
      return { type, from, to, term, prevIndex, prevTerm, entries, commit: int(o, 'commit', '', 0) };
    }
    case 'appendResponse':
      return {
        type,
        from,
        to,
        term,
        success: bool(o, 'success', ''),
        index: int(o, 'index', '', 0),
        hintIndex: int(o, 'hintIndex', '', 0),
        hintTerm: int(o, 'hintTerm', '', 0),
      };
    case 'heartbeat':
      return {
        type,
        from,
        to,
        term,
        commit: int(o, 'commit', '', 0),
        sentTick: int(o, 'sentTick', '', 0),
        readCtx: nullableStr(o, 'readCtx', ''),
      };
    case 'heartbeatResponse':
      return { type, from, to, term, sentTick: int(o, 'sentTick', '', 0), readCtx: nullableStr(o, 'readCtx', '') };
    case 'snapshot': {
      const meta = parseSnapshotMeta(field(o, 'meta', ''), 'meta');
      const offset = int(o, 'offset', '', 0);
      const chunk = bytes(o, 'chunk', '');
      const totalBytes = int(o, 'totalBytes', '', 0);
      if (offset + chunk.byteLength > totalBytes) {
        throw new FieldError('chunk', `ends at ${offset + chunk.byteLength}, beyond totalBytes ${totalBytes}`);
      }
      return { type, from, to, term, meta, offset, chunk, totalBytes, done: bool(o, 'done', '') };
    }
    case 'snapshotResponse':
      return {
        type,
        from,
        to,
        term,
        snapshotIndex: int(o, 'snapshotIndex', '', 0),
        nextOffset: int(o, 'nextOffset', '', -1),
        done: bool(o, 'done', ''),
      };
    case 'timeoutNow':
      // Absent from a node older than the field: no vote, the target asks for it.
      return { type, from, to, term, vote: Object.prototype.hasOwnProperty.call(o, 'vote') ? bool(o, 'vote', '') : false };
    case 'readIndex':
      return { type, from, to, term, ctx: str(o, 'ctx', '') };
    case 'readIndexResponse':
      return { type, from, to, term, ctx: str(o, 'ctx', ''), index: int(o, 'index', '', -1) };
    case 'propose':
      return { type, from, to, term, data: bytes(o, 'data', '') };
    default:
      return unreachable(type);
  }
}

/** Checks a decoded value against the Message union; never throws. */
export function parseMessage(x: unknown): MessageParseResult {
  try {
    const o = record(x, 'message');
    const type = field(o, 'type', '');
    if (!isMessageType(type)) {
      return { ok: false, error: `type: unknown message type ${show(type)}` };
    }
    return { ok: true, message: parseFields(o, type) };
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, error: error.message };
    throw error;
  }
}

/**
 * Helpers for the frame parser, which checks its own envelope the same way.
 * They throw FieldError; `catchFieldError` turns that into a result.
 */
export const fields = { record, field, int, str, nodeId, boundedStr, array, show } as const;

export function catchFieldError<T>(parse: () => T): ParseResult<T> {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, error: error.message };
    throw error;
  }
}

/** Lets the frame parser raise a field error from its own checks. */
export function fieldError(path: string, problem: string): Error {
  return new FieldError(path, problem);
}
