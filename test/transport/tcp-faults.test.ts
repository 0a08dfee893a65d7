import t, { type Test } from 'tap';
import { Packr } from 'msgpackr';
import type { Node } from './helpers.js';
import { encodeFrame } from '../../src/transport/frame.js';
import { handshaken, heartbeat, mesh, rawClient, startNode, waitFor, type RawClient } from './helpers.js';

const packr = new Packr({ useRecords: false });

function frameOf(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/**
 * a (the victim) and b (a good peer) are meshed; `attack` sends something
 * bad to a over its own connection. The bad connection must be closed and
 * counted, and b -> a must keep working before and after.
 */
async function survives(
  t: Test,
  attack: (a: Node) => Promise<RawClient>,
  expected: { code: string; reason: RegExp; peer: string | null },
): Promise<void> {
  const [a, b] = await Promise.all([startNode(t, 'a'), startNode(t, 'b')]);
  mesh([a, b]);
  b.transport.send([heartbeat('b', 'a', 1)]);
  await waitFor(() => a.received.length === 1, 'b -> a before the attack');

  const client = await attack(a);
  await waitFor(() => client.closed, 'a to close the bad connection');
  t.equal(a.transport.stats().protocolErrors, 1, 'the error is counted');
  t.match(
    a.events.filter((e) => e.type === 'protocolError'),
    [{ type: 'protocolError', direction: 'inbound', code: expected.code, reason: expected.reason, peer: expected.peer }],
  );
  t.notOk(a.received.some((m) => m.from === 'evil' || (m.type === 'heartbeat' && m.sentTick === 666)), 'nothing from the bad connection got through');

  b.transport.send([heartbeat('b', 'a', 2)]);
  await waitFor(() => a.received.length === 2, 'b -> a after the attack');
  a.transport.send([heartbeat('a', 'b', 3)]);
  await waitFor(() => b.received.length === 1, 'a -> b after the attack');
  t.equal(a.transport.peers()[0]?.state, 'connected');
}

t.test('garbled bytes after the handshake', async (t) => {
  await survives(
    t,
    async (a) => {
      const client = await handshaken(t, a.address, 'evil', 'a');
      client.socket.write(Buffer.from([0, 0, 0, 3, 0xd4, 0x7f, 0x00]));
      return client;
    },
    { code: 'UNDECODABLE', reason: /not msgpack/, peer: 'evil' },
  );
});

t.test('garbage instead of a hello (a length prefix far above the handshake limit)', async (t) => {
  await survives(
    t,
    async (a) => {
      const client = await rawClient(t, a.address);
      client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      return client;
    },
    { code: 'FRAME_TOO_LARGE', reason: /above the limit of 4096/, peer: null },
  );
});

t.test('an oversized frame after the handshake is refused from its header', async (t) => {
  await survives(
    t,
    async (a) => {
      const client = await handshaken(t, a.address, 'evil', 'a');
      client.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
      return client;
    },
    { code: 'FRAME_TOO_LARGE', reason: /2147483647 bytes/, peer: 'evil' },
  );
});

t.test('an invalid message inside a well-formed frame', async (t) => {
  await survives(
    t,
    async (a) => {
      const client = await handshaken(t, a.address, 'evil', 'a');
      const bad = { type: 'heartbeat', from: 'evil', to: 'a', term: 1, commit: 0, sentTick: 666, readCtx: 12 };
      client.socket.write(frameOf(packr.pack({ t: 'messages', messages: [heartbeat('evil', 'a', 665), bad] })));
      return client;
    },
    { code: 'BAD_MESSAGE', reason: /messages\[1\]\.readCtx: must be a string or null/, peer: 'evil' },
  );
});

t.test('a message claiming another sender than the handshake', async (t) => {
  await survives(
    t,
    async (a) => {
      const client = await handshaken(t, a.address, 'evil', 'a');
      client.socket.write(encodeFrame({ t: 'messages', messages: [heartbeat('b', 'a', 666)] }));
      return client;
    },
    { code: 'WRONG_ENDPOINT', reason: /from b to a on the connection from evil/, peer: 'evil' },
  );
});

t.test('inbound connections are bounded', async (t) => {
  const a = await startNode(t, 'a', { limits: { maxInboundConnections: 2 } });
  const first = await rawClient(t, a.address);
  const second = await rawClient(t, a.address);
  const third = await rawClient(t, a.address);
  await waitFor(() => third.closed, 'the third connection to be refused');
  t.equal(a.transport.stats().inboundRefused, 1);
  t.notOk(first.closed || second.closed, 'the first two stay open');
});
