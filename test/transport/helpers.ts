import type { Test } from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FrameDecoder, PROTOCOL_VERSION, encodeFrame, type Frame } from '../../src/transport/frame.js';
import type { Membership, Message, NodeId } from '../../src/raft/types.js';
import { TcpTransport, type TcpTransportOptions } from '../../src/transport/tcp-transport.js';
import type { PeerEvent } from '../../src/transport/transport.js';

export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const membership: Membership = {
  voters: [
    { id: 'a', kind: 'data', peer: '127.0.0.1:7001' },
    { id: 'w', kind: 'witness', peer: '[::1]:7003' },
  ],
  learners: [{ id: 'b', kind: 'data', peer: 'fw-b.example:7002' }],
};

/** One message of every type, with binary payloads that include every byte value. */
export function everyMessage(from: NodeId, to: NodeId): Message[] {
  const env = { from, to, term: 7 };
  return [
    { ...env, type: 'preVote', lastLogIndex: 10, lastLogTerm: 6 },
    { ...env, type: 'vote', lastLogIndex: 10, lastLogTerm: 6, transfer: true },
    { ...env, type: 'preVoteResponse', granted: false },
    { ...env, type: 'voteResponse', granted: true },
    {
      ...env,
      type: 'append',
      prevIndex: 10,
      prevTerm: 6,
      commit: 9,
      entries: [
        { index: 11, term: 7, payload: { type: 'noop' } },
        { index: 12, term: 7, payload: { type: 'command', data: bytes(256, 3) } },
        { index: 13, term: 7, payload: { type: 'command', data: new Uint8Array(0) } },
        { index: 14, term: 7, payload: { type: 'membership', change: { op: 'addLearner', member: { id: 'c', kind: 'data', peer: '10.0.0.3:7000' } } } },
        { index: 15, term: 7, payload: { type: 'membership', change: { op: 'promote', id: 'c' } } },
        { index: 16, term: 7, payload: { type: 'membership', change: { op: 'remove', id: 'w' } } },
      ],
    },
    { ...env, type: 'appendResponse', success: false, index: 10, hintIndex: 8, hintTerm: 5 },
    { ...env, type: 'heartbeat', commit: 9, sentTick: 123456, readCtx: 'r-1' },
    { ...env, type: 'heartbeat', commit: 0, sentTick: 0, readCtx: null },
    { ...env, type: 'heartbeatResponse', sentTick: 123456, readCtx: null },
    {
      ...env,
      type: 'snapshot',
      meta: { index: 100, term: 6, membership },
      offset: 4096,
      chunk: bytes(70_000, 9),
      totalBytes: 80_000,
      done: false,
    },
    { ...env, type: 'snapshotResponse', snapshotIndex: 100, nextOffset: -1, done: false },
    { ...env, type: 'timeoutNow', vote: true },
    { ...env, type: 'readIndex', ctx: 'ctx-42' },
    { ...env, type: 'readIndexResponse', ctx: 'ctx-42', index: -1 },
  ];
}

/** Every Uint8Array in a value, in traversal order. */
export function binaries(x: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (x instanceof Uint8Array) out.push(x);
  else if (Array.isArray(x)) for (const v of x) binaries(v, out);
  else if (typeof x === 'object' && x !== null) for (const v of Object.values(x)) binaries(v, out);
  return out;
}

/** Polls until `condition` holds; fails the test (without hanging) after the deadline. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface Node {
  readonly id: NodeId;
  readonly transport: TcpTransport;
  readonly address: string;
  readonly received: Message[];
  readonly events: PeerEvent[];
}

export async function startNode(
  t: Test,
  id: NodeId,
  options: Partial<TcpTransportOptions> = {},
): Promise<Node> {
  const transport = new TcpTransport({ id, cluster: 'test', listen: '127.0.0.1:0', random: () => 0.5, ...options });
  const received: Message[] = [];
  const events: PeerEvent[] = [];
  transport.onMessages((messages) => received.push(...messages));
  transport.onPeerEvent((event) => events.push(event));
  await transport.start();
  t.teardown(() => transport.close());
  const { port } = transport.listenAddress();
  return { id, transport, address: `127.0.0.1:${port}`, received, events };
}

/** Wires every node to every other. */
export function mesh(nodes: readonly Node[]): void {
  for (const n of nodes) n.transport.setPeers(nodes.map((p) => ({ id: p.id, address: p.address })));
}

export async function listenRaw(t: Test, onSocket: Parameters<typeof createServer>[1]): Promise<{ server: Server; address: string }> {
  const server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no address');
  return { server, address: `127.0.0.1:${address.port}` };
}

/** A port that was free a moment ago (the listener is closed before returning). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== 'object') throw new Error('no address');
  return address.port;
}

export function heartbeat(from: NodeId, to: NodeId, sentTick: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: 0, sentTick, readCtx: null };
}

/** A hand-driven client speaking (or not) the protocol, for hostile-peer tests. */
export interface RawClient {
  readonly socket: Socket;
  readonly frames: Frame[];
  closed: boolean;
}

export async function rawClient(t: Test, address: string): Promise<RawClient> {
  const [host, port] = address.split(':');
  const socket = connect({ host: host ?? '127.0.0.1', port: Number(port) });
  const client: RawClient = { socket, frames: [], closed: false };
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => client.frames.push(...decoder.push(chunk).frames));
  socket.on('error', () => {});
  socket.on('close', () => {
    client.closed = true;
  });
  t.teardown(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return client;
}

/** Connects and completes the handshake as node `from`. */
export async function handshaken(t: Test, address: string, from: NodeId, to: NodeId, cluster = 'test'): Promise<RawClient> {
  const client = await rawClient(t, address);
  client.socket.write(encodeFrame({ t: 'hello', protocol: PROTOCOL_VERSION, cluster, from, to }));
  await waitFor(() => client.frames.length > 0, 'welcome');
  if (client.frames[0]?.t !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(client.frames[0])}`);
  return client;
}
