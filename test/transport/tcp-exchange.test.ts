import t from 'tap';
import type { Message } from '../../src/raft/types.js';
import { binaries, everyMessage, heartbeat, mesh, startNode, waitFor } from './helpers.js';

t.test('three transports exchange every message type with binary payloads intact', async (t) => {
  const nodes = await Promise.all(['a', 'b', 'c'].map((id) => startNode(t, id)));
  mesh(nodes);
  const sent = new Map<string, Message[]>();
  for (const from of nodes) {
    for (const to of nodes) {
      if (from === to) continue;
      const messages = everyMessage(from.id, to.id);
      sent.set(`${from.id}->${to.id}`, messages);
      from.transport.send(messages);
    }
  }
  const perNode = 2 * everyMessage('x', 'y').length;
  await waitFor(() => nodes.every((n) => n.received.length === perNode), 'every message to arrive');
  for (const to of nodes) {
    for (const from of nodes) {
      if (from === to) continue;
      const got = to.received.filter((m) => m.from === from.id);
      const expected = sent.get(`${from.id}->${to.id}`) ?? [];
      t.same(got, expected, `${from.id} -> ${to.id}: same messages, same order`);
      const gotBytes = binaries(got);
      const sentBytes = binaries(expected);
      t.equal(gotBytes.length, sentBytes.length);
      t.ok(
        gotBytes.every((b, i) => b.constructor === Uint8Array && Buffer.from(b).equals(Buffer.from(sentBytes[i] ?? []))),
        `${from.id} -> ${to.id}: binary payloads are Uint8Arrays with the same bytes`,
      );
    }
  }
  for (const n of nodes) {
    const infos = n.transport.peers();
    t.same(infos.map((p) => p.id).sort(), nodes.filter((p) => p !== n).map((p) => p.id).sort(), `${n.id} lists the others, not itself`);
    for (const p of infos) {
      t.equal(p.state, 'connected', `${n.id} -> ${p.id} connected`);
      t.equal(p.sentMessages, perNode / 2);
      t.equal(p.receivedMessages, perNode / 2);
      t.equal(p.droppedMessages, 0);
      t.equal(p.queuedMessages, 0);
      t.ok(p.inbound, `${p.id} has dialled ${n.id}`);
    }
    t.equal(n.transport.stats().protocolErrors, 0);
    t.ok(n.events.some((e) => e.type === 'connected' && e.direction === 'outbound'));
  }
});

t.test('messages sent while connecting are batched and arrive in order', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a'), startNode(t, 'b')]);
  mesh([a, b]);
  const batches: number[] = [];
  b.transport.onMessages((m) => batches.push(m.length));
  // All of these are queued before the connection exists.
  for (let i = 0; i < 500; i++) a.transport.send([heartbeat('a', 'b', i)]);
  await waitFor(() => b.received.length === 500, '500 heartbeats');
  t.same(
    b.received.map((m) => (m.type === 'heartbeat' ? m.sentTick : -1)),
    Array.from({ length: 500 }, (_, i) => i),
    'in order, none lost',
  );
  t.ok(batches.length < 500, `batched into ${batches.length} frames`);
});

t.test('messages to unknown peers are dropped and counted; setPeers drops removed peers', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a'), startNode(t, 'b')]);
  mesh([a, b]);
  a.transport.send([heartbeat('a', 'nobody', 1)]);
  t.equal(a.transport.stats().droppedUnknownPeer, 1);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => b.received.length === 1, 'b to receive');
  a.transport.setPeers([{ id: 'a', address: a.address }]);
  t.same(a.transport.peers(), [], 'b removed');
  t.ok(a.events.some((e) => e.type === 'disconnected' && e.peer === 'b' && e.reason === 'peer removed'));
  a.transport.send([heartbeat('a', 'b', 2)]);
  t.equal(a.transport.stats().droppedUnknownPeer, 2);
  // b notices a's outbound connection going away.
  await waitFor(() => b.events.some((e) => e.type === 'disconnected' && e.direction === 'inbound'), 'b to see the inbound close');
});
