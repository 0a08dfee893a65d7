/**
 * The wire format between peers: a 4-byte big-endian body length, then a
 * msgpackr body holding one Frame. The decoder is a byte-level state machine
 * that checks the announced length against its limit before allocating
 * anything, so a hostile length costs nothing.
 */
import { Packr } from 'msgpackr';
import type { Message, NodeId } from '../raft/types.js';
import { assert, unreachable } from '../util/assert.js';
import { catchFieldError, fieldError, fields, parseMessage } from './validate.js';

/** Bumped on any incompatible change of frames or messages; peers must match exactly. */
export const PROTOCOL_VERSION = 1;

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Before the handshake only small frames are expected: a stranger cannot make us allocate much. */
export const DEFAULT_MAX_HANDSHAKE_FRAME_BYTES = 4 * 1024;
export const FRAME_HEADER_BYTES = 4;
/** Cluster names and reject reasons are short; anything longer is garbage. */
export const MAX_CLUSTER_NAME_CHARS = 128;
export const MAX_REASON_CHARS = 512;

export type Frame =
  | { readonly t: 'hello'; readonly protocol: number; readonly cluster: string; readonly from: NodeId; readonly to: NodeId }
  | { readonly t: 'welcome'; readonly protocol: number; readonly from: NodeId }
  | { readonly t: 'reject'; readonly reason: string }
  | { readonly t: 'messages'; readonly messages: readonly Message[] };

export type FrameType = Frame['t'];

export type ProtocolErrorCode =
  /** The announced length is above the limit. */
  | 'FRAME_TOO_LARGE'
  /** The announced length is zero. */
  | 'EMPTY_FRAME'
  /** The body is not msgpack. */
  | 'UNDECODABLE'
  /** The body is msgpack but not a Frame. */
  | 'BAD_FRAME'
  /** A message in a messages frame is not a Message. */
  | 'BAD_MESSAGE'
  /** A valid frame at the wrong moment (e.g. messages before the handshake). */
  | 'UNEXPECTED_FRAME'
  /** A message whose from/to does not match the handshake of its connection. */
  | 'WRONG_ENDPOINT';

/** A peer broke the protocol; the connection it came on is closed. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// useRecords off: records need shared structure state between encoder and
// decoder. copyBuffers on: byte fields must not pin (or alias) the frame body.
const packr = new Packr({ useRecords: false, copyBuffers: true, int64AsType: 'number', mapsAsObjects: true });

/** msgpack of one message, as queued per peer and spliced into a messages frame. */
export function encodeMessage(message: Message): Buffer {
  return packr.pack(message);
}

const MESSAGES_FRAME_PREFIX = Buffer.concat([Buffer.from([0x82]), packr.pack('t'), packr.pack('messages'), packr.pack('messages')]);
/** Largest msgpack array header (array32). */
const MAX_ARRAY_HEADER_BYTES = 5;
/** Bytes a messages frame adds around its messages, at most. */
export const MESSAGES_FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + MESSAGES_FRAME_PREFIX.length + MAX_ARRAY_HEADER_BYTES;

function arrayHeader(count: number): Buffer {
  if (count < 16) return Buffer.from([0x90 | count]);
  if (count < 0x10000) return Buffer.from([0xdc, count >> 8, count & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(count, 1);
  return b;
}

/**
 * A complete messages frame (length prefix included) from already encoded
 * messages: the body is the msgpack map { t: 'messages', messages: [...] }
 * spliced together without re-encoding anything.
 */
export function messagesFrame(encoded: readonly Uint8Array[]): Buffer {
  const header = arrayHeader(encoded.length);
  let bodyBytes = MESSAGES_FRAME_PREFIX.length + header.length;
  for (const m of encoded) bodyBytes += m.byteLength;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  out.writeUInt32BE(bodyBytes, 0);
  let at = FRAME_HEADER_BYTES;
  at += MESSAGES_FRAME_PREFIX.copy(out, at);
  at += header.copy(out, at);
  for (const m of encoded) {
    out.set(m, at);
    at += m.byteLength;
  }
  return out;
}

/**
 * `messages` encoded into one messages frame and decoded and checked again,
 * as a peer would: the start-up warm-up runs the codec this way.
 */
export function roundTripMessages(messages: readonly Message[]): Message[] {
  const { frames, error } = new FrameDecoder().push(messagesFrame(messages.map(encodeMessage)));
  const frame = frames[0];
  if (error !== null) throw error;
  assert(frames.length === 1 && frame?.t === 'messages', 'a messages frame decodes to one messages frame');
  return [...frame.messages];
}

/** A complete frame, length prefix included. */
export function encodeFrame(frame: Frame): Buffer {
  if (frame.t === 'messages') return messagesFrame(frame.messages.map(encodeMessage));
  const body = packr.pack(frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

const { record, field, int, nodeId, boundedStr, array, show } = fields;

/** Checks a decoded body against the Frame union; never throws. */
export function parseFrame(x: unknown): { ok: true; frame: Frame } | { ok: false; error: ProtocolError } {
  const parsed = catchFieldError((): Frame | { badMessage: string } => {
    const o = record(x, 'frame');
    const t = field(o, 't', '');
    if (t !== 'hello' && t !== 'welcome' && t !== 'reject' && t !== 'messages') {
      throw fieldError('t', `unknown frame type ${show(t)}`);
    }
    switch (t) {
      case 'hello':
        return {
          t,
          protocol: int(o, 'protocol', '', 0),
          cluster: boundedStr(o, 'cluster', '', MAX_CLUSTER_NAME_CHARS),
          from: nodeId(o, 'from', ''),
          to: nodeId(o, 'to', ''),
        };
      case 'welcome':
        return { t, protocol: int(o, 'protocol', '', 0), from: nodeId(o, 'from', '') };
      case 'reject':
        return { t, reason: boundedStr(o, 'reason', '', MAX_REASON_CHARS) };
      case 'messages': {
        const messages: Message[] = [];
        const raw = array(o, 'messages', '', Number.MAX_SAFE_INTEGER);
        for (const [i, m] of raw.entries()) {
          const r = parseMessage(m);
          if (!r.ok) return { badMessage: `messages[${i}].${r.error}` };
          messages.push(r.message);
        }
        return { t, messages };
      }
      default:
        return unreachable(t);
    }
  });
  if (!parsed.ok) return { ok: false, error: new ProtocolError('BAD_FRAME', `bad frame: ${parsed.error}`) };
  if ('badMessage' in parsed.value) {
    return { ok: false, error: new ProtocolError('BAD_MESSAGE', `bad message: ${parsed.value.badMessage}`) };
  }
  return { ok: true, frame: parsed.value };
}

export interface DecodeResult {
  /** Frames completed by this chunk, in order (including those before an error). */
  readonly frames: Frame[];
  /** Set once the stream is broken; the decoder then refuses all further input. */
  readonly error: ProtocolError | null;
}

type DecoderState =
  | { readonly kind: 'header'; filled: number; length: number }
  | { readonly kind: 'body'; readonly body: Buffer; filled: number }
  | { readonly kind: 'failed'; readonly error: ProtocolError };

/** Reassembles frames from arbitrary chunks of a byte stream. */
export class FrameDecoder {
  private state: DecoderState = { kind: 'header', filled: 0, length: 0 };

  constructor(private maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    FrameDecoder.checkLimit(maxFrameBytes);
  }

  /** Raises or lowers the limit for frames whose header has not been read yet (after the handshake). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    FrameDecoder.checkLimit(maxFrameBytes);
    this.maxFrameBytes = maxFrameBytes;
  }

  private static checkLimit(maxFrameBytes: number): void {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > 0xffffffff) {
      throw new RangeError(`maxFrameBytes must be an integer in 1..2^32-1, got ${maxFrameBytes}`);
    }
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case 'failed':
          return { frames, error: state.error };
        case 'header': {
          while (state.filled < FRAME_HEADER_BYTES && at < chunk.length) {
            // Multiply rather than shift: a shift would go negative for lengths >= 2^31.
            state.length = state.length * 256 + (chunk[at++] ?? 0);
            state.filled++;
          }
          if (state.filled < FRAME_HEADER_BYTES) break;
          const length = state.length;
          const refused = this.checkLength(length);
          if (refused !== null) return { frames, error: this.fail(refused) };
          if (chunk.length - at >= length) {
            // The whole body is in this chunk: decode it in place (byte fields are copied out).
            const error = this.complete(chunk.subarray(at, at + length), frames);
            at += length;
            if (error !== null) return { frames, error };
          } else {
            const body = Buffer.allocUnsafe(length);
            body.set(chunk.subarray(at), 0);
            this.state = { kind: 'body', body, filled: chunk.length - at };
            at = chunk.length;
          }
          break;
        }
        case 'body': {
          const take = Math.min(state.body.length - state.filled, chunk.length - at);
          state.body.set(chunk.subarray(at, at + take), state.filled);
          state.filled += take;
          at += take;
          if (state.filled === state.body.length) {
            const error = this.complete(state.body, frames);
            if (error !== null) return { frames, error };
          }
          break;
        }
        default:
          return unreachable(state);
      }
    }
    return { frames, error: this.state.kind === 'failed' ? this.state.error : null };
  }

  private checkLength(length: number): ProtocolError | null {
    if (length === 0) return new ProtocolError('EMPTY_FRAME', 'frame of length 0');
    if (length > this.maxFrameBytes) {
      return new ProtocolError('FRAME_TOO_LARGE', `frame of ${length} bytes is above the limit of ${this.maxFrameBytes}`);
    }
    return null;
  }

  private complete(body: Uint8Array, frames: Frame[]): ProtocolError | null {
    this.state = { kind: 'header', filled: 0, length: 0 };
    let value: unknown;
    try {
      value = packr.unpack(body);
    } catch (cause) {
      return this.fail(new ProtocolError('UNDECODABLE', `frame body is not msgpack: ${String(cause)}`, { cause }));
    }
    const parsed = parseFrame(value);
    if (!parsed.ok) return this.fail(parsed.error);
    frames.push(parsed.frame);
    return null;
  }

  private fail(error: ProtocolError): ProtocolError {
    this.state = { kind: 'failed', error };
    return error;
  }
}
