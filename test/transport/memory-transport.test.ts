import t from 'tap';
import type { Message } from '../../src/raft/types.js';
import { MemoryHub, type MemoryTransport } from '../../src/transport/memory-transport.js';
import { BoundedMessageQueue } from '../../src/transport/message-queue.js';
import type { PeerEvent } from '../../src/transport/transport.js';
import { binaries, everyMessage, heartbeat, waitFor } from './helpers.js';

interface MemNode {
  readonly id: string;
  readonly transport: MemoryTransport;
  readonly received: Message[];
  readonly events: PeerEvent[];
}

async function cluster(hub: MemoryHub, ids: string[]): Promise<MemNode[]> {
  const nodes = ids.map((id) => {
    const transport = hub.transport(id);
    const received: Message[] = [];
    const events: PeerEvent[] = [];
    transport.onMessages((m) => received.push(...m));
    transport.onPeerEvent((e) => events.push(e));
    return { id, transport, received, events };
  });
  await Promise.all(nodes.map((n) => n.transport.start()));
  for (const n of nodes) n.transport.setPeers(ids.map((id) => ({ id, address: `${id}:1` })));
  return nodes;
}

function ticks(messages: Message[]): number[] {
  return messages.map((m) => (m.type === 'heartbeat' ? m.sentTick : -1));
}

t.test('delivers every message type asynchronously, as copies through the codec', async (t) => {
  const hub = new MemoryHub();
  const [a, b] = await cluster(hub, ['a', 'b']);
  if (a === undefined || b === undefined) throw new Error('cluster');
  const sent = everyMessage('a', 'b');
  a.transport.send(sent);
  t.same(b.received, [], 'nothing is delivered inside send()');
  await waitFor(() => b.received.length === sent.length, 'delivery');
  t.same(b.received, sent);
  const got = binaries(b.received);
  const orig = binaries(sent);
  t.ok(got.every((x, i) => x !== orig[i] && x.constructor === Uint8Array), 'byte fields are fresh plain Uint8Arrays');
  t.match(a.transport.peers(), [{ id: 'b', state: 'connected', sentMessages: sent.length }]);
});

t.test('cut, one-way cut, isolate and heal', async (t) => {
  const hub = new MemoryHub();
  const nodes = await cluster(hub, ['a', 'b', 'c']);
  const [a, b, c] = nodes as [MemNode, MemNode, MemNode];

  hub.cut('a', 'b');
  a.transport.send([heartbeat('a', 'b', 1), heartbeat('a', 'c', 1)]);
  b.transport.send([heartbeat('b', 'a', 1)]);
  await waitFor(() => c.received.length === 1, 'a -> c');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(b.received, [], 'a -> b cut');
  t.same(a.received, [], 'b -> a cut');
  t.match(a.events, [{ type: 'disconnected', peer: 'b', reason: 'link cut' }]);
  t.equal(a.transport.peers().find((p) => p.id === 'b')?.droppedMessages, 1);

  hub.heal('a', 'b');
  hub.cut('a', 'b', { oneWay: true });
  a.transport.send([heartbeat('a', 'b', 2)]);
  b.transport.send([heartbeat('b', 'a', 2)]);
  await waitFor(() => a.received.length === 1, 'b -> a works with only a -> b cut');
  t.same(b.received, []);

  hub.healAll();
  hub.isolate('c');
  a.transport.send([heartbeat('a', 'b', 3), heartbeat('a', 'c', 3)]);
  await waitFor(() => b.received.length === 1, 'a -> b healed');
  t.same(ticks(c.received), [1], 'c isolated');
  hub.healAll();
  a.transport.send([heartbeat('a', 'c', 4)]);
  await waitFor(() => c.received.length === 2, 'c healed');
  t.same(ticks(c.received), [1, 4]);
});

t.test('messages in flight when a link is cut are lost; closed and unknown nodes drop', async (t) => {
  const hub = new MemoryHub();
  const [a, b] = (await cluster(hub, ['a', 'b'])) as [MemNode, MemNode];
  a.transport.send([heartbeat('a', 'b', 1)]);
  hub.cut('a', 'b');
  hub.heal('a', 'b');
  a.transport.send([heartbeat('a', 'b', 2), heartbeat('a', 'zed', 2)]);
  await waitFor(() => b.received.length === 1, 'delivery');
  t.same(ticks(b.received), [2]);
  t.equal(a.transport.stats().droppedUnknownPeer, 1);

  await b.transport.close();
  a.transport.send([heartbeat('a', 'b', 3)]);
  await waitFor(() => a.transport.peers()[0]?.droppedMessages === 2, 'the send to the closed node to be dropped');
  // A restarted node takes the same id on the hub.
  const b2 = hub.transport('b');
  const got: Message[] = [];
  b2.onMessages((m) => got.push(...m));
  await b2.start();
  a.transport.send([heartbeat('a', 'b', 4)]);
  await waitFor(() => got.length === 1, 'delivery to the restarted node');
  t.same(ticks(got), [4]);
});

t.test('the per-link queue is bounded, oldest dropped first', async (t) => {
  const hub = new MemoryHub({ maxQueuedMessages: 3 });
  const [a, b] = (await cluster(hub, ['a', 'b'])) as [MemNode, MemNode];
  a.transport.send([1, 2, 3, 4, 5].map((i) => heartbeat('a', 'b', i)));
  await waitFor(() => b.received.length === 3, 'delivery');
  t.same(ticks(b.received), [3, 4, 5]);
  t.equal(a.transport.peers()[0]?.droppedMessages, 2);
});

t.test('BoundedMessageQueue drops the oldest by count and by bytes', async (t) => {
  const q = new BoundedMessageQueue(3, 10);
  t.equal(q.push(new Uint8Array([1, 1])), 0);
  t.equal(q.push(new Uint8Array([2, 2])), 0);
  t.equal(q.push(new Uint8Array([3, 3])), 0);
  t.equal(q.push(new Uint8Array([4, 4])), 1, 'count bound');
  t.same([q.length, q.byteLength], [3, 6]);
  t.equal(q.push(new Uint8Array(8).fill(5)), 2, 'byte bound: 6 + 8 > 10 drops the oldest until it fits');
  t.same([q.length, q.byteLength], [2, 10]);
  t.same(q.shift(), new Uint8Array([4, 4]));
  t.same(q.shift(), new Uint8Array(8).fill(5));
  t.equal(q.shift(), undefined);
  t.throws(() => q.push(new Uint8Array(11)), /larger than the whole queue/);
  for (let i = 0; i < 5000; i++) {
    q.push(new Uint8Array([i & 0xff]));
    if (i % 2 === 0) q.shift();
  }
  t.ok(q.length <= 3 && q.byteLength <= 10);
});
