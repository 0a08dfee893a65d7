/**
 * The peer transport over TCP. Each peer gets one outbound connection,
 * dialled as soon as the peer is known and kept up, used only to send; a peer's messages to us arrive on
 * the connection it dialled. Every connection starts with a handshake
 * (hello -> welcome | reject) naming the protocol version, cluster and both
 * node ids. Nothing here awaits across peers: each peer has its own socket,
 * bounded queue and timers, so a slow or dead peer only hurts itself.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { parseHostPort } from '../config/address.js';
import { assert, unreachable } from '../util/assert.js';
import { MAX_BACKOFF_EXPONENT, backoffDelayMs } from './backoff.js';
import { plainTcp, type PeerAuthenticator, type SecuredSocket } from './authenticator.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  MAX_REASON_CHARS,
  MESSAGES_FRAME_OVERHEAD_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeFrame,
  encodeMessage,
  messagesFrame,
  type Frame,
} from './frame.js';
import { silentLogger, type Logger } from './log.js';
import { MAX_MEMBERS } from './validate.js';
import { BoundedMessageQueue } from './message-queue.js';
import {
  MAX_HANDLERS,
  type PeerAddress,
  type PeerEvent,
  type PeerInfo,
  type PeerState,
  type Transport,
  type TransportStats,
} from './transport.js';

export interface TransportLimits {
  /** Largest frame body accepted or sent. Peers must agree (a larger frame closes the connection). */
  readonly maxFrameBytes: number;
  /** Largest frame accepted before the handshake completes. */
  readonly maxHandshakeFrameBytes: number;
  /** Per-peer queue bounds; beyond them the oldest messages are dropped. */
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  /** Inbound connections, handshaken or not, at one time. */
  readonly maxInboundConnections: number;
  readonly connectTimeoutMs: number;
  /** From TCP connect (or accept) to welcome (or hello), securing the socket included. */
  readonly handshakeTimeoutMs: number;
  /** Reconnect back-off: base * 2^failures, capped, times a jitter factor in [0.5, 1). */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** TCP keep-alive probe delay, so a silently dead peer's socket is eventually noticed. */
  readonly keepAliveMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxHandshakeFrameBytes: DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
  maxQueuedMessages: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxInboundConnections: 32,
  connectTimeoutMs: 3_000,
  handshakeTimeoutMs: 3_000,
  backoffBaseMs: 50,
  backoffMaxMs: 2_000,
  keepAliveMs: 5_000,
};

/** Problems with a set of limits, one sentence each; empty when they are usable. */
export function checkTransportLimits(limits: TransportLimits): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) problems.push(`${key} must be a positive integer, got ${String(value)}`);
  }
  if (limits.maxFrameBytes > 0xffffffff) problems.push('maxFrameBytes must fit the 4-byte length prefix');
  if (limits.maxHandshakeFrameBytes > limits.maxFrameBytes) problems.push('maxHandshakeFrameBytes must be <= maxFrameBytes');
  // A message that fits a frame must also fit the queue.
  if (limits.maxQueuedBytes < limits.maxFrameBytes) problems.push('maxQueuedBytes must be >= maxFrameBytes');
  if (limits.backoffMaxMs < limits.backoffBaseMs) problems.push('backoffMaxMs must be >= backoffBaseMs');
  return problems;
}

/** The listener could not bind (address in use, not local, no permission). */
export class TransportListenError extends Error {
  override name = 'TransportListenError';
  constructor(
    readonly address: string,
    cause: Error,
  ) {
    super(`cannot listen for peers on ${address}: ${cause.message}`, { cause });
  }
}

export interface TcpTransportOptions {
  readonly id: NodeId;
  readonly cluster: string;
  /** host:port to listen on; port 0 picks a free port (see listenAddress()). */
  readonly listen: string;
  readonly limits?: Partial<TransportLimits>;
  /** [0, 1) source for back-off jitter; inject a seeded one in tests. */
  readonly random?: () => number;
  readonly logger?: Logger;
  readonly authenticator?: PeerAuthenticator;
  /** Only for compatibility tests: pretend to speak another protocol version. */
  readonly protocolVersion?: number;
}

/** Bytes a messages frame body adds around its messages (the length prefix is not part of the body). */
const MESSAGES_BODY_OVERHEAD_BYTES = MESSAGES_FRAME_OVERHEAD_BYTES - FRAME_HEADER_BYTES;

interface PeerCounters {
  sentMessages: number;
  droppedMessages: number;
  reconnects: number;
  connects: number;
  dialFailures: number;
  receivedMessages: number;
  protocolErrors: number;
}

interface OutboundConn {
  readonly raw: Socket;
  /** The socket the protocol runs on once secured; null while securing. */
  secured: Socket | null;
  readonly decoder: FrameDecoder;
  timer: NodeJS.Timeout | null;
}

interface OutboundLink {
  readonly id: NodeId;
  address: string;
  state: PeerState;
  conn: OutboundConn | null;
  backoffTimer: NodeJS.Timeout | null;
  /** Consecutive failures since the last successful handshake. */
  failures: number;
  /** write() returned false: wait for 'drain' before writing more. */
  busy: boolean;
  readonly queue: BoundedMessageQueue;
  readonly counters: PeerCounters;
  lastError: string | null;
}

interface InboundConn {
  readonly raw: Socket;
  secured: Socket | null;
  readonly decoder: FrameDecoder;
  timer: NodeJS.Timeout | null;
  /** Set once the hello is accepted. */
  peer: NodeId | null;
  /** A reject was sent; the rest of the input is ignored until the socket closes. */
  closing: boolean;
}

function newCounters(): PeerCounters {
  return { sentMessages: 0, droppedMessages: 0, reconnects: 0, connects: 0, dialFailures: 0, receivedMessages: 0, protocolErrors: 0 };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** host:port or [v6]:port with port 0..65535 (0: any free port). */
function parseListenAddress(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  assert(match !== null, `listen address must be host:port, got ${JSON.stringify(address)}`);
  const port = Number(match[2]);
  assert(Number.isInteger(port) && port >= 0 && port <= 65535, `listen port must be 0-65535, got ${match[2]}`);
  return { host: match[1] ?? '', port };
}

export class TcpTransport implements Transport {
  private readonly limits: TransportLimits;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly authenticator: PeerAuthenticator;
  private readonly protocolVersion: number;
  private readonly listenAt: { host: string; port: number };

  private server: Server | null = null;
  private bound: { host: string; port: number } | null = null;
  private closed = false;
  private readonly links = new Map<NodeId, OutboundLink>();
  private readonly inbound = new Set<InboundConn>();
  private readonly inboundByPeer = new Map<NodeId, InboundConn>();
  private readonly messageHandlers: Array<(messages: Message[]) => void> = [];
  private readonly eventHandlers: Array<(event: PeerEvent) => void> = [];
  private readonly totals = {
    sentMessages: 0,
    receivedMessages: 0,
    droppedMessages: 0,
    droppedUnknownPeer: 0,
    inboundAccepted: 0,
    inboundRefused: 0,
    handshakesRejected: 0,
    protocolErrors: 0,
  };

  constructor(private readonly options: TcpTransportOptions) {
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
    const problems = checkTransportLimits(this.limits);
    assert(problems.length === 0, `invalid transport limits: ${problems.join('; ')}`);
    assert(options.id.length > 0, 'node id must not be empty');
    assert(options.cluster.length > 0, 'cluster name must not be empty');
    this.listenAt = parseListenAddress(options.listen);
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? silentLogger;
    this.authenticator = options.authenticator ?? plainTcp;
    this.protocolVersion = options.protocolVersion ?? PROTOCOL_VERSION;
  }

  // -------------------------------------------------------------------------
  // The Transport interface.

  async start(): Promise<void> {
    assert(this.server === null && !this.closed, 'start() called twice or after close()');
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new TransportListenError(this.options.listen, error));
      server.once('error', onError);
      server.listen({ host: this.listenAt.host, port: this.listenAt.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (error) => this.logger.error({ err: error }, 'peer listener error'));
    const address = server.address();
    assert(address !== null && typeof address === 'object', 'a TCP listener has an address');
    this.bound = { host: address.address, port: address.port };
    this.logger.info({ listen: this.bound, cluster: this.options.cluster }, 'peer transport listening');
  }

  /** Where the listener is bound (the real port when started on port 0). */
  listenAddress(): { host: string; port: number } {
    assert(this.bound !== null, 'listenAddress() before start()');
    return this.bound;
  }

  setPeers(peers: ReadonlyArray<PeerAddress>): void {
    if (this.closed) return;
    assert(peers.length <= MAX_MEMBERS, `at most ${MAX_MEMBERS} peers, got ${peers.length}`);
    const wanted = new Map<NodeId, string>();
    for (const p of peers) if (p.id !== this.options.id) wanted.set(p.id, p.address);
    for (const [id, link] of this.links) {
      if (!wanted.has(id)) this.removeLink(link);
    }
    for (const [id, address] of wanted) {
      const link = this.links.get(id);
      if (link === undefined) {
        const created = this.newLink(id, address);
        this.links.set(id, created);
        // Dialled now, not on the first message: a campaign or a takeover must not wait for a TCP and handshake round.
        this.dial(created);
      } else if (link.address !== address) {
        this.logger.info({ peer: id, from: link.address, to: address }, 'peer address changed');
        link.address = address;
        this.resetLink(link, 'peer address changed');
      }
    }
  }

  send(messages: readonly Message[]): void {
    const touched = new Set<OutboundLink>();
    for (const message of messages) {
      const link = this.links.get(message.to);
      if (this.closed || link === undefined) {
        this.totals.droppedUnknownPeer += link === undefined ? 1 : 0;
        this.totals.droppedMessages++;
        continue;
      }
      const encoded = encodeMessage(message);
      if (encoded.byteLength + MESSAGES_BODY_OVERHEAD_BYTES > this.limits.maxFrameBytes) {
        this.countDropped(link, 1);
        this.logger.error(
          { peer: link.id, type: message.type, bytes: encoded.byteLength, maxFrameBytes: this.limits.maxFrameBytes },
          'message too large for a frame, dropped',
        );
        continue;
      }
      this.countDropped(link, link.queue.push(encoded));
      touched.add(link);
    }
    for (const link of touched) {
      if (link.state === 'idle') this.dial(link);
      else if (link.state === 'connected') this.flush(link);
    }
  }

  onMessages(handler: (messages: Message[]) => void): void {
    assert(this.messageHandlers.length < MAX_HANDLERS, 'too many message handlers');
    this.messageHandlers.push(handler);
  }

  onPeerEvent(handler: (event: PeerEvent) => void): void {
    assert(this.eventHandlers.length < MAX_HANDLERS, 'too many peer event handlers');
    this.eventHandlers.push(handler);
  }

  peers(): PeerInfo[] {
    return [...this.links.values()].map((link) => ({
      id: link.id,
      address: link.address,
      state: link.state,
      inbound: this.inboundByPeer.has(link.id),
      sentMessages: link.counters.sentMessages,
      droppedMessages: link.counters.droppedMessages,
      reconnects: link.counters.reconnects,
      dialFailures: link.counters.dialFailures,
      receivedMessages: link.counters.receivedMessages,
      protocolErrors: link.counters.protocolErrors,
      queuedMessages: link.queue.length,
      queuedBytes: link.queue.byteLength,
      lastError: link.lastError,
    }));
  }

  stats(): TransportStats {
    return { ...this.totals };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) {
      this.dropConn(link);
      this.clearBackoff(link);
      this.countDropped(link, link.queue.clear());
      link.state = 'closed';
    }
    for (const ic of [...this.inbound]) this.destroyInbound(ic);
    const server = this.server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.logger.info({}, 'peer transport closed');
  }

  // -------------------------------------------------------------------------
  // Outbound: dial, handshake, send.

  private newLink(id: NodeId, address: string): OutboundLink {
    return {
      id,
      address,
      state: 'idle',
      conn: null,
      backoffTimer: null,
      failures: 0,
      busy: false,
      queue: new BoundedMessageQueue(this.limits.maxQueuedMessages, this.limits.maxQueuedBytes),
      counters: newCounters(),
      lastError: null,
    };
  }

  private removeLink(link: OutboundLink): void {
    const wasConnected = link.state === 'connected';
    this.links.delete(link.id);
    this.dropConn(link);
    this.clearBackoff(link);
    this.countDropped(link, link.queue.clear());
    link.state = 'closed';
    this.logger.info({ peer: link.id }, 'peer removed');
    if (wasConnected) this.emit({ type: 'disconnected', peer: link.id, direction: 'outbound', reason: 'peer removed' });
  }

  /** Starts over (address changed): the queue is kept, the connection and back-off are not. */
  private resetLink(link: OutboundLink, reason: string): void {
    const wasConnected = link.state === 'connected';
    this.dropConn(link);
    this.clearBackoff(link);
    link.failures = 0;
    link.state = 'idle';
    this.dial(link);
    if (wasConnected) this.emit({ type: 'disconnected', peer: link.id, direction: 'outbound', reason });
  }

  private dial(link: OutboundLink): void {
    assert(link.conn === null && link.backoffTimer === null, 'dial with a connection or back-off pending');
    const target = parseHostPort(link.address);
    if (target === null) {
      const reason = `bad peer address ${JSON.stringify(link.address)}`;
      if (link.lastError !== reason) this.logger.error({ peer: link.id, address: link.address }, 'bad peer address');
      link.lastError = reason;
      link.counters.dialFailures++;
      this.scheduleBackoff(link);
      return;
    }
    const raw = connect({ host: target.host, port: target.port });
    const conn: OutboundConn = { raw, secured: null, decoder: new FrameDecoder(this.limits.maxHandshakeFrameBytes), timer: null };
    link.conn = conn;
    link.state = 'connecting';
    link.busy = false;
    raw.setNoDelay(true);
    raw.on('error', (error) => this.failOutbound(link, conn, `socket error: ${error.message}`));
    raw.on('close', () => this.failOutbound(link, conn, 'connection closed'));
    conn.timer = setTimeout(() => this.failOutbound(link, conn, `connect timed out after ${this.limits.connectTimeoutMs} ms`), this.limits.connectTimeoutMs);
    raw.once('connect', () => {
      if (link.conn !== conn) return;
      raw.setKeepAlive(true, this.limits.keepAliveMs);
      this.restartTimer(conn, this.limits.handshakeTimeoutMs, () =>
        this.failOutbound(link, conn, `handshake timed out after ${this.limits.handshakeTimeoutMs} ms`),
      );
      link.state = 'handshaking';
      this.authenticator.outbound(raw, link.id).then(
        (secured) => this.onOutboundSecured(link, conn, secured),
        (error: unknown) => this.failOutbound(link, conn, `authentication failed: ${errorText(error)}`),
      );
    });
  }

  private onOutboundSecured(link: OutboundLink, conn: OutboundConn, secured: SecuredSocket): void {
    if (link.conn !== conn) {
      secured.socket.destroy();
      return;
    }
    if (secured.peerId !== null && secured.peerId !== link.id) {
      this.failOutbound(link, conn, `authenticated as ${secured.peerId}, expected ${link.id}`);
      return;
    }
    const socket = secured.socket;
    conn.secured = socket;
    if (socket !== conn.raw) {
      socket.on('error', (error) => this.failOutbound(link, conn, `socket error: ${error.message}`));
      socket.on('close', () => this.failOutbound(link, conn, 'connection closed'));
    }
    socket.on('data', (chunk: Buffer) => this.onOutboundData(link, conn, chunk));
    socket.on('drain', () => {
      if (link.conn !== conn) return;
      link.busy = false;
      this.flush(link);
    });
    socket.write(
      encodeFrame({ t: 'hello', protocol: this.protocolVersion, cluster: this.options.cluster, from: this.options.id, to: link.id }),
    );
  }

  private onOutboundData(link: OutboundLink, conn: OutboundConn, chunk: Buffer): void {
    const { frames, error } = conn.decoder.push(chunk);
    for (const frame of frames) {
      if (link.conn !== conn) return;
      this.handleOutboundFrame(link, conn, frame);
    }
    if (error !== null) this.outboundProtocolError(link, conn, error);
  }

  private handleOutboundFrame(link: OutboundLink, conn: OutboundConn, frame: Frame): void {
    switch (frame.t) {
      case 'welcome':
        if (link.state !== 'handshaking') {
          this.outboundProtocolError(link, conn, new ProtocolError('UNEXPECTED_FRAME', 'welcome after the handshake'));
        } else if (frame.from !== link.id || frame.protocol !== this.protocolVersion) {
          this.outboundProtocolError(
            link,
            conn,
            new ProtocolError('WRONG_ENDPOINT', `welcome from ${frame.from} protocol ${frame.protocol}, expected ${link.id} protocol ${this.protocolVersion}`),
          );
        } else {
          this.onWelcome(link, conn);
        }
        return;
      case 'reject': {
        const reason = frame.reason;
        const repeated = link.lastError === `rejected: ${reason}`;
        this.logger[repeated ? 'debug' : 'warn']({ peer: link.id, address: link.address, reason }, 'peer rejected our handshake');
        this.emit({ type: 'rejected', peer: link.id, direction: 'outbound', reason });
        this.failOutbound(link, conn, `rejected: ${reason}`);
        return;
      }
      case 'hello':
      case 'messages':
        this.outboundProtocolError(link, conn, new ProtocolError('UNEXPECTED_FRAME', `${frame.t} frame on an outbound connection`));
        return;
      default:
        unreachable(frame);
    }
  }

  private onWelcome(link: OutboundLink, conn: OutboundConn): void {
    this.clearTimer(conn);
    link.state = 'connected';
    link.failures = 0;
    link.lastError = null;
    if (link.counters.connects > 0) link.counters.reconnects++;
    link.counters.connects++;
    this.logger.info({ peer: link.id, address: link.address, reconnects: link.counters.reconnects }, 'connected to peer');
    this.emit({ type: 'connected', peer: link.id, direction: 'outbound' });
    this.flush(link);
  }

  /** Writes queued messages in frames as large as allowed until the socket pushes back. */
  private flush(link: OutboundLink): void {
    const socket = link.conn?.secured;
    if (link.state !== 'connected' || socket === null || socket === undefined) return;
    while (!link.busy && link.queue.length > 0) {
      const batch: Uint8Array[] = [];
      let bodyBytes = MESSAGES_BODY_OVERHEAD_BYTES;
      for (let next = link.queue.peek(); next !== undefined; next = link.queue.peek()) {
        if (batch.length > 0 && bodyBytes + next.byteLength > this.limits.maxFrameBytes) break;
        link.queue.shift();
        batch.push(next);
        bodyBytes += next.byteLength;
      }
      link.counters.sentMessages += batch.length;
      this.totals.sentMessages += batch.length;
      // false means the data is buffered but the peer is behind: stop until 'drain'.
      if (!socket.write(messagesFrame(batch))) link.busy = true;
    }
  }

  private outboundProtocolError(link: OutboundLink, conn: OutboundConn, error: ProtocolError): void {
    if (link.conn !== conn) return;
    link.counters.protocolErrors++;
    this.totals.protocolErrors++;
    this.logger.warn({ peer: link.id, address: link.address, code: error.code, reason: error.message }, 'protocol error from peer, closing');
    this.emit({ type: 'protocolError', peer: link.id, direction: 'outbound', code: error.code, reason: error.message });
    this.failOutbound(link, conn, `protocol error: ${error.message}`);
  }

  /** The one exit of an outbound connection: every error, close, timeout and refusal lands here. */
  private failOutbound(link: OutboundLink, conn: OutboundConn, reason: string): void {
    if (link.conn !== conn) return;
    const wasConnected = link.state === 'connected';
    this.dropConn(link);
    const firstFailure = link.lastError === null;
    link.lastError = reason;
    if (!wasConnected) link.counters.dialFailures++;
    // Settle the link's state before telling anyone, so a handler that sends finds it consistent.
    if (!this.closed && this.links.get(link.id) === link) this.scheduleBackoff(link);
    if (wasConnected) {
      this.logger.warn({ peer: link.id, address: link.address, reason }, 'lost connection to peer');
      this.emit({ type: 'disconnected', peer: link.id, direction: 'outbound', reason });
    } else {
      // Only the first of a run of failures is worth a warning; the rest would flood the log.
      this.logger[firstFailure ? 'warn' : 'debug']({ peer: link.id, address: link.address, reason }, 'cannot reach peer');
    }
  }

  private scheduleBackoff(link: OutboundLink): void {
    const delayMs = backoffDelayMs(link.failures, this.limits.backoffBaseMs, this.limits.backoffMaxMs, this.random);
    link.failures = Math.min(link.failures + 1, MAX_BACKOFF_EXPONENT);
    link.state = 'backoff';
    // Redialled whether or not anything waits: the connection is kept up for the next message.
    link.backoffTimer = setTimeout(() => {
      link.backoffTimer = null;
      this.dial(link);
    }, delayMs);
  }

  private dropConn(link: OutboundLink): void {
    const conn = link.conn;
    if (conn === null) return;
    link.conn = null;
    link.busy = false;
    this.clearTimer(conn);
    conn.raw.destroy();
    conn.secured?.destroy();
  }

  private clearBackoff(link: OutboundLink): void {
    if (link.backoffTimer !== null) clearTimeout(link.backoffTimer);
    link.backoffTimer = null;
  }

  private countDropped(link: OutboundLink, count: number): void {
    link.counters.droppedMessages += count;
    this.totals.droppedMessages += count;
  }

  // -------------------------------------------------------------------------
  // Inbound: accept, check the hello, receive.

  private accept(raw: Socket): void {
    if (this.closed || this.inbound.size >= this.limits.maxInboundConnections) {
      this.totals.inboundRefused++;
      this.logger.warn({ remote: raw.remoteAddress, max: this.limits.maxInboundConnections }, 'too many inbound peer connections, refused');
      raw.destroy();
      return;
    }
    this.totals.inboundAccepted++;
    const ic: InboundConn = { raw, secured: null, decoder: new FrameDecoder(this.limits.maxHandshakeFrameBytes), timer: null, peer: null, closing: false };
    this.inbound.add(ic);
    raw.setNoDelay(true);
    raw.setKeepAlive(true, this.limits.keepAliveMs);
    raw.on('error', (error) => this.logger.debug({ peer: ic.peer, remote: raw.remoteAddress, err: error.message }, 'inbound socket error'));
    raw.on('close', () => this.onInboundClosed(ic));
    this.restartTimer(ic, this.limits.handshakeTimeoutMs, () => {
      this.logger.warn({ remote: raw.remoteAddress }, `no hello within ${this.limits.handshakeTimeoutMs} ms, closing`);
      this.destroyInbound(ic);
    });
    this.authenticator.inbound(raw).then(
      (secured) => this.onInboundSecured(ic, secured),
      (error: unknown) => {
        this.logger.warn({ remote: raw.remoteAddress, err: errorText(error) }, 'inbound peer authentication failed');
        this.destroyInbound(ic);
      },
    );
  }

  private onInboundSecured(ic: InboundConn, secured: SecuredSocket): void {
    if (!this.inbound.has(ic)) {
      secured.socket.destroy();
      return;
    }
    const socket = secured.socket;
    ic.secured = socket;
    if (socket !== ic.raw) {
      socket.on('error', (error) => this.logger.debug({ peer: ic.peer, err: error.message }, 'inbound socket error'));
      socket.on('close', () => this.onInboundClosed(ic));
    }
    socket.on('data', (chunk: Buffer) => this.onInboundData(ic, secured.peerId, chunk));
  }

  private onInboundData(ic: InboundConn, authenticatedId: NodeId | null, chunk: Buffer): void {
    if (ic.closing) return;
    const { frames, error } = ic.decoder.push(chunk);
    for (const frame of frames) {
      if (ic.closing || !this.inbound.has(ic)) return;
      this.handleInboundFrame(ic, authenticatedId, frame);
    }
    if (error !== null && !ic.closing && this.inbound.has(ic)) this.inboundProtocolError(ic, error);
  }

  private handleInboundFrame(ic: InboundConn, authenticatedId: NodeId | null, frame: Frame): void {
    switch (frame.t) {
      case 'hello':
        if (ic.peer !== null) this.inboundProtocolError(ic, new ProtocolError('UNEXPECTED_FRAME', 'second hello'));
        else this.handleHello(ic, authenticatedId, frame);
        return;
      case 'messages':
        if (ic.peer === null) this.inboundProtocolError(ic, new ProtocolError('UNEXPECTED_FRAME', 'messages before hello'));
        else this.receive(ic, ic.peer, frame.messages);
        return;
      case 'welcome':
      case 'reject':
        this.inboundProtocolError(ic, new ProtocolError('UNEXPECTED_FRAME', `${frame.t} frame on an inbound connection`));
        return;
      default:
        unreachable(frame);
    }
  }

  /** Why a hello is refused, or null to welcome it. */
  private checkHello(hello: Extract<Frame, { t: 'hello' }>, authenticatedId: NodeId | null): string | null {
    if (hello.protocol !== this.protocolVersion) {
      return `protocol version ${hello.protocol} is not supported (this node speaks ${this.protocolVersion})`;
    }
    if (hello.cluster !== this.options.cluster) {
      return `cluster ${JSON.stringify(hello.cluster)} does not match this node's cluster ${JSON.stringify(this.options.cluster)}`;
    }
    if (hello.to !== this.options.id) return `this node is ${JSON.stringify(this.options.id)}, not ${JSON.stringify(hello.to)}`;
    if (hello.from === this.options.id) return `dialler claims this node's own id ${JSON.stringify(hello.from)}`;
    if (authenticatedId !== null && authenticatedId !== hello.from) {
      return `authenticated as ${JSON.stringify(authenticatedId)} but hello claims ${JSON.stringify(hello.from)}`;
    }
    return null;
  }

  private handleHello(ic: InboundConn, authenticatedId: NodeId | null, hello: Extract<Frame, { t: 'hello' }>): void {
    const socket = ic.secured;
    assert(socket !== null, 'frames arrive only on a secured socket');
    const refusal = this.checkHello(hello, authenticatedId);
    if (refusal !== null) {
      this.totals.handshakesRejected++;
      this.logger.warn({ remote: ic.raw.remoteAddress, from: hello.from, reason: refusal }, 'peer handshake rejected');
      this.emit({ type: 'rejected', peer: hello.from, direction: 'inbound', reason: refusal });
      ic.closing = true;
      socket.end(encodeFrame({ t: 'reject', reason: refusal.slice(0, MAX_REASON_CHARS) }));
      // Give the reject a moment to leave, but do not wait on the dialler to close.
      this.restartTimer(ic, this.limits.handshakeTimeoutMs, () => this.destroyInbound(ic));
      return;
    }
    this.clearTimer(ic);
    const previous = this.inboundByPeer.get(hello.from);
    if (previous !== undefined) {
      // The peer redialled (restart, or it saw the old connection die first): the old one is dead weight.
      this.logger.debug({ peer: hello.from }, 'replacing older inbound connection');
      this.destroyInbound(previous);
    }
    ic.peer = hello.from;
    this.inboundByPeer.set(hello.from, ic);
    ic.decoder.setMaxFrameBytes(this.limits.maxFrameBytes);
    socket.write(encodeFrame({ t: 'welcome', protocol: this.protocolVersion, from: this.options.id }));
    this.logger.info({ peer: hello.from, remote: ic.raw.remoteAddress }, 'peer connected to us');
    this.emit({ type: 'connected', peer: hello.from, direction: 'inbound' });
  }

  private receive(ic: InboundConn, peer: NodeId, messages: readonly Message[]): void {
    // Identity on a connection is what its handshake said: a message claiming another sender is refused.
    for (const m of messages) {
      if (m.from !== peer || m.to !== this.options.id) {
        this.inboundProtocolError(
          ic,
          new ProtocolError('WRONG_ENDPOINT', `message ${m.type} from ${m.from} to ${m.to} on the connection from ${peer} to ${this.options.id}`),
        );
        return;
      }
    }
    if (messages.length === 0) return;
    this.totals.receivedMessages += messages.length;
    const link = this.links.get(peer);
    if (link !== undefined) link.counters.receivedMessages += messages.length;
    const batch = [...messages];
    for (const handler of this.messageHandlers) handler(batch);
  }

  private inboundProtocolError(ic: InboundConn, error: ProtocolError): void {
    this.totals.protocolErrors++;
    const link = ic.peer === null ? undefined : this.links.get(ic.peer);
    if (link !== undefined) link.counters.protocolErrors++;
    this.logger.warn({ peer: ic.peer, remote: ic.raw.remoteAddress, code: error.code, reason: error.message }, 'protocol error from peer, closing');
    this.emit({ type: 'protocolError', peer: ic.peer, direction: 'inbound', code: error.code, reason: error.message });
    this.destroyInbound(ic);
  }

  private destroyInbound(ic: InboundConn): void {
    ic.closing = true;
    this.clearTimer(ic);
    ic.raw.destroy();
    ic.secured?.destroy();
    this.onInboundClosed(ic);
  }

  private onInboundClosed(ic: InboundConn): void {
    if (!this.inbound.delete(ic)) return;
    this.clearTimer(ic);
    ic.raw.destroy();
    ic.secured?.destroy();
    if (ic.peer !== null && this.inboundByPeer.get(ic.peer) === ic) {
      this.inboundByPeer.delete(ic.peer);
      this.emit({ type: 'disconnected', peer: ic.peer, direction: 'inbound', reason: 'connection closed' });
    }
  }

  // -------------------------------------------------------------------------

  private restartTimer(holder: { timer: NodeJS.Timeout | null }, ms: number, fire: () => void): void {
    this.clearTimer(holder);
    holder.timer = setTimeout(() => {
      holder.timer = null;
      fire();
    }, ms);
  }

  private clearTimer(holder: { timer: NodeJS.Timeout | null }): void {
    if (holder.timer !== null) clearTimeout(holder.timer);
    holder.timer = null;
  }

  private emit(event: PeerEvent): void {
    for (const handler of this.eventHandlers) handler(event);
  }
}
