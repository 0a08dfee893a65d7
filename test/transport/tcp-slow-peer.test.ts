import t from 'tap';
import type { Message } from '../../src/raft/types.js';
import { FrameDecoder, PROTOCOL_VERSION, encodeFrame } from '../../src/transport/frame.js';
import { bytes, heartbeat, listenRaw, mesh, startNode, waitFor } from './helpers.js';

function chunk(to: string, n: number): Message {
  const data = bytes(32 * 1024, n);
  return {
    type: 'snapshot',
    from: 'a',
    to,
    term: 1,
    meta: { index: 1, term: 1, membership: { voters: [], learners: [] } },
    offset: 0,
    chunk: data,
    totalBytes: data.length,
    done: false,
  };
}

const limits = { maxFrameBytes: 256 * 1024, maxQueuedMessages: 50, maxQueuedBytes: 1024 * 1024 };

t.test('a peer that handshakes and then never reads blocks nobody, and its queue stays bounded', async (t) => {
  // The stalled peer: answers the hello, then stops reading for good.
  const { address } = await listenRaw(t, (socket) => {
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    const decoder = new FrameDecoder();
    socket.on('data', (data: Buffer) => {
      if (decoder.push(data).frames.some((f) => f.t === 'hello')) {
        socket.write(encodeFrame({ t: 'welcome', protocol: PROTOCOL_VERSION, from: 'stalled' }));
        socket.pause();
      }
    });
  });
  const [a, b] = await Promise.all([startNode(t, 'a', { limits }), startNode(t, 'b')]);
  mesh([a, b]);
  a.transport.setPeers([
    { id: 'b', address: b.address },
    { id: 'stalled', address },
  ]);
  const stalled = () => a.transport.peers().find((p) => p.id === 'stalled');

  let round = 0;
  await waitFor(
    () => {
      round++;
      a.transport.send([...Array.from({ length: 20 }, (_, i) => chunk('stalled', round * 20 + i)), heartbeat('a', 'b', round)]);
      const info = stalled();
      if (info === undefined) throw new Error('stalled peer missing');
      if (info.queuedMessages > limits.maxQueuedMessages || info.queuedBytes > limits.maxQueuedBytes) {
        throw new Error(`queue above its bounds: ${info.queuedMessages} messages, ${info.queuedBytes} bytes`);
      }
      return info.droppedMessages > 0 && b.received.length >= round - 1;
    },
    'drops at the stalled peer while b keeps receiving',
    30_000,
  );
  const info = stalled();
  t.equal(info?.state, 'connected', 'the stalled peer is still connected: it is slow, not gone');
  t.ok((info?.sentMessages ?? 0) > 0, 'some messages went into the socket before it filled');
  t.ok((info?.droppedMessages ?? 0) > 0, `drops counted (${info?.droppedMessages})`);
  t.ok((info?.queuedMessages ?? 0) <= limits.maxQueuedMessages);
  t.ok((info?.queuedBytes ?? 0) <= limits.maxQueuedBytes);
  // Everything to b arrives, in order, even though a's socket to the stalled peer is full.
  await waitFor(() => b.received.length === round, 'the last heartbeat to b');
  t.same(
    b.received.map((m) => (m.type === 'heartbeat' ? m.sentTick : -1)),
    Array.from({ length: round }, (_, i) => i + 1),
  );
  t.equal(a.transport.peers().find((p) => p.id === 'b')?.droppedMessages, 0);
});

t.test('a peer that accepts and never answers: messages queue up to the bound, the rest are dropped and counted', async (t) => {
  const { address } = await listenRaw(t, (socket) => {
    socket.on('error', () => {});
    socket.pause();
    t.teardown(() => socket.destroy());
  });
  const [a, b] = await Promise.all([startNode(t, 'a', { limits }), startNode(t, 'b')]);
  a.transport.setPeers([
    { id: 'b', address: b.address },
    { id: 'mute', address },
  ]);
  // b's queue holds 50 while a connects to it; mute's overflows.
  for (let i = 0; i < 100; i++) a.transport.send([heartbeat('a', 'mute', i), ...(i < 40 ? [heartbeat('a', 'b', i)] : [])]);
  const mute = a.transport.peers().find((p) => p.id === 'mute');
  t.match(mute, { queuedMessages: 50, droppedMessages: 50, sentMessages: 0 });
  await waitFor(() => b.received.length === 40, 'b to receive all of its messages');
  t.equal(a.transport.peers().find((p) => p.id === 'b')?.droppedMessages, 0);
  t.match(
    a.transport.peers().find((p) => p.id === 'mute'),
    { queuedMessages: 50, droppedMessages: 50, sentMessages: 0 },
    'mute still holds 50 messages',
  );
  t.not(a.transport.peers().find((p) => p.id === 'mute')?.state, 'connected');
});

t.test('a message too large for any frame is dropped and counted, not sent', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a', { limits }), startNode(t, 'b', { limits })]);
  mesh([a, b]);
  const huge = { ...chunk('b', 1), chunk: new Uint8Array(300 * 1024), totalBytes: 300 * 1024 };
  a.transport.send([huge, heartbeat('a', 'b', 1)]);
  await waitFor(() => b.received.length === 1, 'the heartbeat');
  t.equal(b.received[0]?.type, 'heartbeat');
  t.equal(a.transport.peers()[0]?.droppedMessages, 1);
});
