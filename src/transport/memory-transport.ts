/**
 * An in-process transport for driver tests: a hub connects several nodes,
 * links can be cut (both ways or one way) and healed. Messages go through
 * the real frame codec and validator, so a test sees exactly what a peer
 * would receive over TCP (copies, plain Uint8Arrays), and delivery is
 * asynchronous (setImmediate), so a driver is never re-entered from send().
 */
import type { Message, NodeId } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, MESSAGES_FRAME_OVERHEAD_BYTES, encodeMessage, messagesFrame } from './frame.js';
import { BoundedMessageQueue } from './message-queue.js';
import {
  MAX_HANDLERS,
  type PeerAddress,
  type PeerEvent,
  type PeerInfo,
  type Transport,
  type TransportStats,
} from './transport.js';

export interface MemoryHubOptions {
  /** Per-link bound on messages waiting for delivery; beyond it the oldest are dropped. */
  readonly maxQueuedMessages?: number;
  readonly maxFrameBytes?: number;
}

/** Nodes on one hub; more is a test bug. */
const MAX_NODES = 64;

export class MemoryHub {
  private readonly nodes = new Map<NodeId, MemoryTransport>();
  /** Cut directions, as "from\u0000to". */
  private readonly cuts = new Set<string>();
  readonly maxQueuedMessages: number;
  readonly maxFrameBytes: number;

  constructor(options: MemoryHubOptions = {}) {
    this.maxQueuedMessages = options.maxQueuedMessages ?? 10_000;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** A new node on the hub; the id must be unused (a restarted node first closes its old transport). */
  transport(id: NodeId): MemoryTransport {
    const existing = this.nodes.get(id);
    assert(existing === undefined || existing.isClosed(), `node ${id} is already on the hub`);
    assert(this.nodes.size < MAX_NODES || existing !== undefined, 'too many nodes on one hub');
    const t = new MemoryTransport(this, id);
    this.nodes.set(id, t);
    return t;
  }

  /** Stops traffic between a and b (only a -> b when oneWay). Messages in flight on the link are lost. */
  cut(a: NodeId, b: NodeId, options: { oneWay?: boolean } = {}): void {
    this.setCut(a, b, true);
    if (options.oneWay !== true) this.setCut(b, a, true);
  }

  heal(a: NodeId, b: NodeId, options: { oneWay?: boolean } = {}): void {
    this.setCut(a, b, false);
    if (options.oneWay !== true) this.setCut(b, a, false);
  }

  /** Cuts every link to and from `id`. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  healAll(): void {
    for (const key of [...this.cuts]) {
      const [from, to] = key.split('\u0000') as [NodeId, NodeId];
      this.setCut(from, to, false);
    }
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}\u0000${to}`);
  }

  /** The open transport of a node, if any. */
  node(id: NodeId): MemoryTransport | undefined {
    const t = this.nodes.get(id);
    return t === undefined || t.isClosed() ? undefined : t;
  }

  private setCut(from: NodeId, to: NodeId, cut: boolean): void {
    const key = `${from}\u0000${to}`;
    if (cut === this.cuts.has(key)) return;
    if (cut) this.cuts.add(key);
    else this.cuts.delete(key);
    this.nodes.get(from)?.linkChanged(to, cut);
  }
}

interface MemoryLink {
  readonly id: NodeId;
  address: string;
  readonly queue: BoundedMessageQueue;
  sentMessages: number;
  droppedMessages: number;
  receivedMessages: number;
  reconnects: number;
}

export class MemoryTransport implements Transport {
  private readonly links = new Map<NodeId, MemoryLink>();
  private readonly messageHandlers: Array<(messages: Message[]) => void> = [];
  private readonly eventHandlers: Array<(event: PeerEvent) => void> = [];
  private started = false;
  private closed = false;
  private flushScheduled: NodeJS.Immediate | null = null;
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

  constructor(
    private readonly hub: MemoryHub,
    readonly id: NodeId,
  ) {}

  start(): Promise<void> {
    assert(!this.started && !this.closed, 'start() called twice or after close()');
    this.started = true;
    return Promise.resolve();
  }

  isClosed(): boolean {
    return this.closed;
  }

  setPeers(peers: ReadonlyArray<PeerAddress>): void {
    if (this.closed) return;
    const wanted = new Map(peers.filter((p) => p.id !== this.id).map((p) => [p.id, p.address] as const));
    for (const [id, link] of this.links) {
      if (!wanted.has(id)) {
        this.links.delete(id);
        this.drop(link, link.queue.clear());
      }
    }
    for (const [id, address] of wanted) {
      const link = this.links.get(id);
      if (link !== undefined) link.address = address;
      else {
        this.links.set(id, {
          id,
          address,
          // Bytes are bounded by frames, not by the queue, in memory.
          queue: new BoundedMessageQueue(this.hub.maxQueuedMessages, Number.MAX_SAFE_INTEGER),
          sentMessages: 0,
          droppedMessages: 0,
          receivedMessages: 0,
          reconnects: 0,
        });
      }
    }
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const link = this.links.get(message.to);
      if (this.closed || link === undefined) {
        this.totals.droppedMessages++;
        if (link === undefined) this.totals.droppedUnknownPeer++;
        continue;
      }
      if (this.hub.isCut(this.id, message.to)) {
        this.drop(link, 1);
        continue;
      }
      const encoded = encodeMessage(message);
      if (encoded.byteLength + MESSAGES_FRAME_OVERHEAD_BYTES > this.hub.maxFrameBytes) {
        this.drop(link, 1);
        continue;
      }
      this.drop(link, link.queue.push(encoded));
    }
    if (this.flushScheduled === null && !this.closed) this.flushScheduled = setImmediate(() => this.flush());
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
      state: this.closed ? 'closed' : this.reachable(link.id) ? 'connected' : 'backoff',
      inbound: this.hub.node(link.id) !== undefined && !this.hub.isCut(link.id, this.id),
      sentMessages: link.sentMessages,
      droppedMessages: link.droppedMessages,
      reconnects: link.reconnects,
      dialFailures: 0,
      receivedMessages: link.receivedMessages,
      protocolErrors: 0,
      queuedMessages: link.queue.length,
      queuedBytes: link.queue.byteLength,
      lastError: null,
    }));
  }

  stats(): TransportStats {
    return { ...this.totals };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.flushScheduled !== null) clearImmediate(this.flushScheduled);
      this.flushScheduled = null;
      for (const link of this.links.values()) this.drop(link, link.queue.clear());
    }
    return Promise.resolve();
  }

  /** Called by the hub when the link from this node to `to` is cut or healed. */
  linkChanged(to: NodeId, cut: boolean): void {
    const link = this.links.get(to);
    if (link === undefined || this.closed) return;
    if (cut) {
      // What was in flight on the link is lost with it.
      this.drop(link, link.queue.clear());
      this.emit({ type: 'disconnected', peer: to, direction: 'outbound', reason: 'link cut' });
    } else {
      link.reconnects++;
      this.emit({ type: 'connected', peer: to, direction: 'outbound' });
    }
  }

  /** Entry point for another node's frame. */
  receiveFrame(from: NodeId, frame: Buffer): boolean {
    if (this.closed || !this.started) return false;
    const decoder = new FrameDecoder(this.hub.maxFrameBytes);
    const { frames, error } = decoder.push(frame);
    // The sender encoded the frame itself: a decode failure is a bug, not a network fault.
    assert(error === null, `memory transport frame failed to decode: ${error?.message ?? ''}`);
    const messages: Message[] = [];
    for (const f of frames) if (f.t === 'messages') messages.push(...f.messages);
    if (messages.length === 0) return true;
    this.totals.receivedMessages += messages.length;
    const link = this.links.get(from);
    if (link !== undefined) link.receivedMessages += messages.length;
    for (const handler of this.messageHandlers) handler(messages);
    return true;
  }

  private reachable(to: NodeId): boolean {
    return this.hub.node(to) !== undefined && !this.hub.isCut(this.id, to);
  }

  private flush(): void {
    this.flushScheduled = null;
    if (this.closed) return;
    for (const link of this.links.values()) {
      if (link.queue.length === 0) continue;
      while (link.queue.length > 0) {
        const batch = this.takeFrame(link);
        const target = this.hub.node(link.id);
        if (target === undefined || this.hub.isCut(this.id, link.id) || !target.receiveFrame(this.id, messagesFrame(batch))) {
          this.drop(link, batch.length);
          continue;
        }
        link.sentMessages += batch.length;
        this.totals.sentMessages += batch.length;
        // A handler on the receiving side may have closed us or changed our peers.
        if (this.closed || this.links.get(link.id) !== link) return;
      }
    }
  }

  /** As many queued messages as fit one frame (at least one). */
  private takeFrame(link: MemoryLink): Uint8Array[] {
    const batch: Uint8Array[] = [];
    let frameBytes = MESSAGES_FRAME_OVERHEAD_BYTES;
    for (let next = link.queue.peek(); next !== undefined; next = link.queue.peek()) {
      if (batch.length > 0 && frameBytes + next.byteLength > this.hub.maxFrameBytes) break;
      link.queue.shift();
      batch.push(next);
      frameBytes += next.byteLength;
    }
    return batch;
  }

  private drop(link: MemoryLink, count: number): void {
    link.droppedMessages += count;
    this.totals.droppedMessages += count;
  }

  private emit(event: PeerEvent): void {
    for (const handler of this.eventHandlers) handler(event);
  }
}
