import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { Packr } from 'msgpackr';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  PROTOCOL_VERSION,
  encodeFrame,
  encodeMessage,
  messagesFrame,
  type Frame,
} from '../../src/transport/frame.js';
import { binaries, everyMessage } from './helpers.js';

const packr = new Packr({ useRecords: false });

function rawFrame(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

const frames: Frame[] = [
  { t: 'hello', protocol: PROTOCOL_VERSION, cluster: 'fw-pair', from: 'a', to: 'b' },
  { t: 'welcome', protocol: PROTOCOL_VERSION, from: 'b' },
  { t: 'messages', messages: everyMessage('a', 'b').slice(0, 5) },
  { t: 'reject', reason: 'cluster "x" does not match' },
  { t: 'messages', messages: [] },
];

t.test('every frame type round-trips, byte fields as plain Uint8Array', async (t) => {
  const decoder = new FrameDecoder();
  const all: Frame[] = [...frames, { t: 'messages', messages: everyMessage('a', 'b') }];
  const { frames: out, error } = decoder.push(Buffer.concat(all.map(encodeFrame)));
  t.equal(error, null);
  t.same(out, all);
  const sent = binaries(all);
  const got = binaries(out);
  t.ok(sent.length >= 4, 'the sample has binary payloads');
  t.equal(got.length, sent.length);
  got.forEach((b, i) => {
    t.equal(b.constructor, Uint8Array, `payload ${i} is a plain Uint8Array`);
    t.ok(Buffer.from(b).equals(Buffer.from(sent[i] ?? new Uint8Array())), `payload ${i} bytes intact`);
  });
});

t.test('a spliced messages frame decodes like a normally encoded one', async (t) => {
  for (const count of [0, 1, 15, 16, 300, 70_000]) {
    const messages = Array.from({ length: count }, (_, i) => ({
      type: 'timeoutNow' as const,
      from: 'a',
      to: 'b',
      term: i,
      vote: i % 2 === 0,
    }));
    const spliced = messagesFrame(messages.map(encodeMessage));
    const { frames, error } = new FrameDecoder().push(spliced);
    t.equal(error, null, `${count} messages`);
    t.same(frames, [{ t: 'messages', messages }], `${count} messages`);
  }
});

t.test('frames split at every byte boundary decode the same', async (t) => {
  const stream = Buffer.concat(frames.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new FrameDecoder();
    const first = decoder.push(stream.subarray(0, cut));
    const second = decoder.push(stream.subarray(cut));
    if (first.error !== null || second.error !== null) t.fail(`error at cut ${cut}`);
    const got = [...first.frames, ...second.frames];
    if (!isDeepStrictEqual(got, frames)) t.fail(`wrong frames at cut ${cut}`);
  }
  // And one byte at a time.
  const decoder = new FrameDecoder();
  const got: Frame[] = [];
  for (const byte of stream) {
    const r = decoder.push(Buffer.from([byte]));
    t.equal(r.error, null);
    got.push(...r.frames);
  }
  t.same(got, frames);
});

t.test('an oversized frame is refused from its header alone, before any allocation', async (t) => {
  const decoder = new FrameDecoder(1024);
  const allocations: number[] = [];
  const original = Buffer.allocUnsafe;
  Buffer.allocUnsafe = (size: number) => {
    allocations.push(size);
    return original(size);
  };
  t.teardown(() => {
    Buffer.allocUnsafe = original;
  });
  // 4 GiB - 1 announced: allocating it would throw or take the machine's memory.
  const r = decoder.push(Buffer.from([0xff, 0xff, 0xff]));
  t.same(r, { frames: [], error: null }, 'three header bytes are not a verdict yet');
  const r2 = decoder.push(Buffer.from([0xff]));
  t.equal(r2.error?.code, 'FRAME_TOO_LARGE');
  t.match(r2.error?.message, /4294967295 bytes is above the limit of 1024/);
  t.same(allocations, [], 'nothing was allocated');
  t.equal(decoder.push(encodeFrame(frames[0] as Frame)).error?.code, 'FRAME_TOO_LARGE', 'the stream stays broken');
});

t.test('the limit is inclusive and the default is 16 MiB', async (t) => {
  const body = packr.pack({ t: 'reject', reason: 'x'.repeat(100) });
  t.equal(new FrameDecoder(body.length).push(rawFrame(body)).error, null, 'exactly at the limit');
  t.equal(new FrameDecoder(body.length - 1).push(rawFrame(body)).error?.code, 'FRAME_TOO_LARGE');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(DEFAULT_MAX_FRAME_BYTES + 1, 0);
  t.equal(new FrameDecoder().push(header).error?.code, 'FRAME_TOO_LARGE');
  header.writeUInt32BE(DEFAULT_MAX_FRAME_BYTES, 0);
  t.equal(new FrameDecoder().push(header).error, null);
});

t.test('a zero-length frame is a protocol error', async (t) => {
  const r = new FrameDecoder().push(Buffer.from([0, 0, 0, 0]));
  t.equal(r.error?.code, 'EMPTY_FRAME');
});

t.test('garbled bodies are typed errors; frames before the error are kept', async (t) => {
  const good = encodeFrame(frames[1] as Frame);
  const cases: Array<[string, Uint8Array, string]> = [
    ['an unknown msgpack extension', Buffer.from([0xd4, 0x7f, 0x00]), 'UNDECODABLE'],
    ['the never-used byte 0xc1', Buffer.from([0xc1]), 'BAD_FRAME'],
    ['truncated msgpack', Buffer.from([0x92, 0x01]), 'UNDECODABLE'],
    ['a string longer than the body', Buffer.from([0xd9, 0x05, 0x41]), 'UNDECODABLE'],
    ['trailing bytes', Buffer.from([0x01, 0x02]), 'UNDECODABLE'],
    ['not an object', packr.pack([1, 2, 3]), 'BAD_FRAME'],
    ['unknown frame type', packr.pack({ t: 'bogus' }), 'BAD_FRAME'],
    ['hello missing a field', packr.pack({ t: 'hello', protocol: 1, cluster: 'c', from: 'a' }), 'BAD_FRAME'],
    ['hello with a negative protocol', packr.pack({ t: 'hello', protocol: -1, cluster: 'c', from: 'a', to: 'b' }), 'BAD_FRAME'],
    ['messages not an array', packr.pack({ t: 'messages', messages: {} }), 'BAD_FRAME'],
    [
      'an invalid message',
      packr.pack({ t: 'messages', messages: [{ type: 'timeoutNow', from: 'a', to: 'b', term: 1 }, { type: 'timeoutNow', from: 'a', to: 'b', term: -3 }] }),
      'BAD_MESSAGE',
    ],
  ];
  for (const [name, body, code] of cases) {
    const r = new FrameDecoder().push(Buffer.concat([good, rawFrame(body), good]));
    t.equal(r.error?.code, code, name);
    t.same(r.frames, [frames[1]], `${name}: the frame before is delivered, the one after is not`);
  }
  const bad = new FrameDecoder().push(
    rawFrame(packr.pack({ t: 'messages', messages: [{ type: 'timeoutNow', from: 'a', to: 'b', term: 1 }, { type: 'timeoutNow', from: 'a', to: 'b', term: -3 }] })),
  );
  t.match(bad.error?.message, /messages\[1\]\.term: must be >= 0/, 'the error names the message and the field');
});
