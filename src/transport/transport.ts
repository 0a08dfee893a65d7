/**
 * What the driver needs from the network, and nothing more. Delivery is
 * best effort: Raft tolerates loss, duplication across reconnects and delay,
 * so send() never blocks and never fails for a peer that is down.
 */
import type { Message, NodeId } from '../raft/types.js';
import type { ProtocolErrorCode } from './frame.js';

export interface PeerAddress {
  readonly id: NodeId;
  /** host:port or [v6]:port of the peer's listener. */
  readonly address: string;
}

export type PeerState =
  /** Not dialled yet. */
  | 'idle'
  | 'connecting'
  /** Connected, securing the socket and waiting for welcome. */
  | 'handshaking'
  | 'connected'
  /** Waiting before the next dial after a failure. */
  | 'backoff'
  | 'closed';

export type Direction = 'outbound' | 'inbound';

export type PeerEvent =
  | { readonly type: 'connected'; readonly peer: NodeId; readonly direction: Direction }
  | { readonly type: 'disconnected'; readonly peer: NodeId; readonly direction: Direction; readonly reason: string }
  /**
   * A handshake refused. outbound: the peer refused us (reason is theirs);
   * inbound: we refused a dialler (peer is what its hello claimed, if it got that far).
   */
  | { readonly type: 'rejected'; readonly peer: NodeId | null; readonly direction: Direction; readonly reason: string }
  /** A connection broke the protocol and was closed. */
  | {
      readonly type: 'protocolError';
      readonly peer: NodeId | null;
      readonly direction: Direction;
      readonly code: ProtocolErrorCode;
      readonly reason: string;
    };

export interface PeerInfo {
  readonly id: NodeId;
  readonly address: string;
  readonly state: PeerState;
  /** Whether the peer currently has a handshaken connection to us. */
  readonly inbound: boolean;
  /** Messages handed to the socket. */
  readonly sentMessages: number;
  /** Messages dropped: queue full (oldest first), too large for a frame, or discarded when the peer was removed. */
  readonly droppedMessages: number;
  /** Successful handshakes after the first one. */
  readonly reconnects: number;
  readonly dialFailures: number;
  readonly receivedMessages: number;
  readonly protocolErrors: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly lastError: string | null;
}

/** Transport-wide counters, including connections not tied to a configured peer. */
export interface TransportStats {
  readonly sentMessages: number;
  readonly receivedMessages: number;
  readonly droppedMessages: number;
  /** Messages addressed to a node that is not a configured peer. */
  readonly droppedUnknownPeer: number;
  readonly inboundAccepted: number;
  readonly inboundRefused: number;
  readonly handshakesRejected: number;
  readonly protocolErrors: number;
}

export interface Transport {
  /** Starts listening (a no-op for transports that do not listen). */
  start(): Promise<void>;
  /**
   * The peers messages may be sent to. New peers are dialled at once and
   * redialled (with back-off) whenever the connection is lost, so a message
   * rarely waits for a connection; removed peers are disconnected and their
   * queue discarded; a changed address reconnects. The node's own id is ignored.
   */
  setPeers(peers: ReadonlyArray<PeerAddress>): void;
  /** Queues each message for `message.to`. Never blocks, never throws for a down or unknown peer. */
  send(messages: readonly Message[]): void;
  /** Messages received, one call per frame; each message already validated. */
  onMessages(handler: (messages: Message[]) => void): void;
  onPeerEvent(handler: (event: PeerEvent) => void): void;
  peers(): PeerInfo[];
  stats(): TransportStats;
  /** Closes every connection, timer and the listener; later sends are dropped. */
  close(): Promise<void>;
}

/** Handlers are registered once at wiring time; more than this is a bug. */
export const MAX_HANDLERS = 8;
