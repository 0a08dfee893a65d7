import t from 'tap';
import { backoffDelayMs } from '../../src/transport/backoff.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { freePort, heartbeat, startNode, waitFor } from './helpers.js';

const fast = { backoffBaseMs: 10, backoffMaxMs: 100 };

t.test('a peer that is down at first is reached once it starts; queued messages are delivered', async (t) => {
  const port = await freePort();
  const a = await startNode(t, 'a', { limits: fast });
  a.transport.setPeers([{ id: 'b', address: `127.0.0.1:${port}` }]);
  a.transport.send([heartbeat('a', 'b', 1), heartbeat('a', 'b', 2)]);
  await waitFor(() => (a.transport.peers()[0]?.dialFailures ?? 0) >= 3, 'a few failed dials');
  t.match(a.transport.peers()[0], { state: /backoff|connecting/, queuedMessages: 2, sentMessages: 0 });

  const b = await startNode(t, 'b', { listen: `127.0.0.1:${port}` });
  await waitFor(() => b.received.length === 2, 'the queued messages to arrive');
  t.same(
    b.received.map((m) => (m.type === 'heartbeat' ? m.sentTick : -1)),
    [1, 2],
  );
  t.match(a.transport.peers()[0], { state: 'connected', queuedMessages: 0, sentMessages: 2, reconnects: 0, lastError: null });
  t.match(a.events, [{ type: 'connected', peer: 'b', direction: 'outbound' }]);
});

t.test('a peer that is killed and restarted is reconnected', async (t) => {
  const a = await startNode(t, 'a', { limits: fast });
  const b1 = await startNode(t, 'b');
  a.transport.setPeers([{ id: 'b', address: b1.address }]);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => b1.received.length === 1, 'first delivery');

  await b1.transport.close();
  await waitFor(() => a.events.some((e) => e.type === 'disconnected' && e.peer === 'b'), 'a to notice');
  // While b is away, a keeps sending; the messages queue (bounded) and wait.
  let tick = 2;
  a.transport.send([heartbeat('a', 'b', tick++)]);

  const b2 = await startNode(t, 'b', { listen: b1.address });
  // Keep sending as a leader would, until the new b hears from a.
  await waitFor(() => {
    a.transport.send([heartbeat('a', 'b', tick++)]);
    return b2.received.length > 0;
  }, 'delivery to the restarted peer');
  t.ok(b2.received.every((m) => m.from === 'a' && m.type === 'heartbeat'));
  t.equal(b2.received[0]?.type === 'heartbeat' ? b2.received[0].sentTick : 0, 2, 'the message sent while b was down arrives first');
  const info = a.transport.peers()[0];
  t.equal(info?.state, 'connected');
  t.equal(info?.reconnects, 1, 'counted as a reconnect');
  t.ok(a.events.filter((e) => e.type === 'connected' && e.direction === 'outbound').length === 2);
});

t.test('a known peer is connected before any message, and redialled after a loss with nothing to send', async (t) => {
  const a = await startNode(t, 'a', { limits: fast });
  const b1 = await startNode(t, 'b');
  a.transport.setPeers([{ id: 'b', address: b1.address }]);
  await waitFor(() => a.transport.peers()[0]?.state === 'connected', 'a connected to b without sending');
  t.equal(a.transport.peers()[0]?.sentMessages, 0);

  await b1.transport.close();
  await waitFor(() => a.events.some((e) => e.type === 'disconnected' && e.peer === 'b'), 'a to notice');
  const b2 = await startNode(t, 'b', { listen: b1.address });
  await waitFor(() => a.transport.peers()[0]?.state === 'connected', 'a reconnected to the restarted b, still without sending');
  t.equal(a.transport.peers()[0]?.reconnects, 1);
  t.equal(b2.received.length, 0, 'no message was needed for it');
});

t.test('back-off grows exponentially with jitter in [0.5, 1) of the ceiling and is capped', async (t) => {
  const ceilings = [10, 20, 40, 80, 80, 80];
  for (const [failures, ceiling] of ceilings.entries()) {
    t.equal(backoffDelayMs(failures, 10, 80, () => 0), ceiling / 2, `${failures} failures, lowest`);
    t.equal(backoffDelayMs(failures, 10, 80, () => 0.999999), ceiling, `${failures} failures, highest`);
  }
  t.equal(backoffDelayMs(1_000_000, 10, 80, () => 0.5), 60, 'huge failure counts stay finite and capped');
});

t.test('a malformed peer address is a dial failure, not a crash', async (t) => {
  const a = await startNode(t, 'a', { limits: fast });
  a.transport.setPeers([{ id: 'b', address: 'not an address' }]);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => (a.transport.peers()[0]?.dialFailures ?? 0) >= 2, 'retries');
  t.match(a.transport.peers()[0], { state: /backoff/, lastError: /bad peer address/, queuedMessages: 1 });
  // Fixing the address dials at once.
  const b = await startNode(t, 'b');
  a.transport.setPeers([{ id: 'b', address: b.address }]);
  await waitFor(() => b.received.length === 1, 'delivery after the address is fixed');
});

t.test('a listen address in use is a named error', async (t) => {
  const a = await startNode(t, 'a');
  const clash = new TcpTransport({ id: 'b', cluster: 'test', listen: a.address });
  t.teardown(() => clash.close());
  await t.rejects(clash.start(), { name: 'TransportListenError', message: /cannot listen for peers on 127\.0\.0\.1:\d+: .*EADDRINUSE/ });
});
