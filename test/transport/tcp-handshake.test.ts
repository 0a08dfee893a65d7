import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/transport/log.js';
import type { PeerAuthenticator } from '../../src/transport/authenticator.js';
import { PROTOCOL_VERSION, encodeFrame } from '../../src/transport/frame.js';
import type { PeerEvent } from '../../src/transport/transport.js';
import { heartbeat, listenRaw, rawClient, startNode, waitFor, type Node } from './helpers.js';

function rejections(node: Node, direction: 'inbound' | 'outbound'): Extract<PeerEvent, { type: 'rejected' }>[] {
  return node.events.filter((e): e is Extract<PeerEvent, { type: 'rejected' }> => e.type === 'rejected' && e.direction === direction);
}

async function expectRejected(t: Test, dialler: Node, listener: Node, peerId: string, reason: RegExp): Promise<void> {
  dialler.transport.setPeers([{ id: peerId, address: listener.address }]);
  dialler.transport.send([heartbeat(dialler.id, peerId, 1)]);
  await waitFor(() => rejections(dialler, 'outbound').length > 0, 'the dialler to see the rejection');
  t.match(rejections(dialler, 'outbound')[0]?.reason, reason, 'the dialler surfaces the reason');
  t.match(rejections(listener, 'inbound')[0]?.reason, reason, 'the listener reports the same reason');
  t.equal(listener.transport.stats().handshakesRejected >= 1, true);
  const info = dialler.transport.peers()[0];
  t.match(info?.lastError, reason);
  t.not(info?.state, 'connected');
  t.same(listener.received, [], 'nothing was delivered');
  // It keeps trying with back-off and keeps being refused.
  await waitFor(() => rejections(dialler, 'outbound').length >= 2, 'a second attempt');
  t.same(listener.received, []);
}

t.test('a node of another cluster is refused with the reason', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a', { cluster: 'blue' }), startNode(t, 'b', { cluster: 'red' })]);
  await expectRejected(t, a, b, 'b', /cluster "blue" does not match this node's cluster "red"/);
});

t.test('a node speaking another protocol version is refused with the reason', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a', { protocolVersion: PROTOCOL_VERSION + 1 }), startNode(t, 'b')]);
  await expectRejected(t, a, b, 'b', new RegExp(`protocol version ${PROTOCOL_VERSION + 1} is not supported`));
});

t.test('a dialler expecting another node at the address is refused', async (t) => {
  const [a, b] = await Promise.all([startNode(t, 'a'), startNode(t, 'b')]);
  // a believes "c" lives at b's address.
  await expectRejected(t, a, b, 'c', /this node is "b", not "c"/);
});

t.test('a raw client with a wrong hello gets a reject frame and is disconnected', async (t) => {
  const b = await startNode(t, 'b');
  const client = await rawClient(t, b.address);
  client.socket.write(encodeFrame({ t: 'hello', protocol: 999, cluster: 'test', from: 'x', to: 'b' }));
  await waitFor(() => client.closed, 'the connection to close');
  t.match(client.frames, [{ t: 'reject', reason: /protocol version 999/ }]);
});

t.test('a hello claiming our own id is refused', async (t) => {
  const b = await startNode(t, 'b');
  const client = await rawClient(t, b.address);
  client.socket.write(encodeFrame({ t: 'hello', protocol: PROTOCOL_VERSION, cluster: 'test', from: 'b', to: 'b' }));
  await waitFor(() => client.closed, 'the connection to close');
  t.match(client.frames, [{ t: 'reject', reason: /own id/ }]);
});

t.test('a listener that never answers the hello times out the handshake, and a silent dialler is dropped', async (t) => {
  const { address } = await listenRaw(t, (socket) => {
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
  });
  const a = await startNode(t, 'a', { limits: { handshakeTimeoutMs: 100, backoffBaseMs: 10, backoffMaxMs: 20 } });
  a.transport.setPeers([{ id: 'mute', address }]);
  a.transport.send([heartbeat('a', 'mute', 1)]);
  await waitFor(() => (a.transport.peers()[0]?.dialFailures ?? 0) >= 2, 'two timed-out handshakes');
  t.match(a.transport.peers()[0]?.lastError, /handshake timed out after 100 ms/);

  const client = await rawClient(t, a.address);
  await waitFor(() => client.closed, 'a to drop a connection that never says hello');
  t.same(client.frames, []);
});

t.test('messages before the hello close the connection', async (t) => {
  const b = await startNode(t, 'b');
  const client = await rawClient(t, b.address);
  client.socket.write(encodeFrame({ t: 'messages', messages: [heartbeat('a', 'b', 1)] }));
  await waitFor(() => client.closed, 'the connection to close');
  t.same(b.received, []);
  t.match(b.events, [{ type: 'protocolError', code: 'UNEXPECTED_FRAME', peer: null }]);
});

t.test('refusals are logged with their reason through a pino logger', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger: Logger = pino({ level: 'debug' }, sink);
  const [a, b] = await Promise.all([startNode(t, 'a', { cluster: 'blue', logger }), startNode(t, 'b', { cluster: 'red', logger })]);
  a.transport.setPeers([{ id: 'b', address: b.address }]);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => lines.some((l) => l.includes('peer rejected our handshake')), 'the dialler to log the rejection');
  const listenerLine = lines.find((l) => l.includes('peer handshake rejected'));
  t.match(listenerLine, /cluster \\"blue\\" does not match/);
  t.match(lines.find((l) => l.includes('peer rejected our handshake')), /"level":40.*"peer":"b"/);
});

t.test('the authenticator seam: its identity must match the hello, and it can refuse a socket', async (t) => {
  const claims: PeerAuthenticator = {
    outbound: (socket) => Promise.resolve({ socket, peerId: null }),
    inbound: (socket) => Promise.resolve({ socket, peerId: 'mallory' }),
  };
  const [a, b] = await Promise.all([startNode(t, 'a'), startNode(t, 'b', { authenticator: claims })]);
  await expectRejected(t, a, b, 'b', /authenticated as "mallory" but hello claims "a"/);

  const refuses: PeerAuthenticator = {
    outbound: () => Promise.reject(new Error('no certificate for you')),
    inbound: (socket) => Promise.resolve({ socket, peerId: null }),
  };
  const c = await startNode(t, 'c', { authenticator: refuses });
  c.transport.setPeers([{ id: 'b', address: b.address }]);
  c.transport.send([heartbeat('c', 'b', 1)]);
  await waitFor(() => (c.transport.peers()[0]?.dialFailures ?? 0) >= 1, 'the refused dial');
  t.match(c.transport.peers()[0]?.lastError, /authentication failed: no certificate for you/);
  t.same(b.received, []);
});
