/**
 * The seam for peer authentication. Each socket passes through the
 * authenticator after TCP connects and before the handshake; a later
 * authenticator wraps it in mutual TLS and reports the node id from the
 * peer's certificate, which the handshake then requires to match.
 */
import type { Socket } from 'node:net';
import type { NodeId } from '../raft/types.js';

export interface SecuredSocket {
  /** The socket to speak the protocol on (the same socket, or e.g. a TLSSocket wrapping it). */
  readonly socket: Socket;
  /** The peer's authenticated node id, or null when this authenticator establishes none. */
  readonly peerId: NodeId | null;
}

export interface PeerAuthenticator {
  /** Secures a socket we dialled to reach `peer`; rejects to refuse the connection. */
  outbound(socket: Socket, peer: NodeId): Promise<SecuredSocket>;
  /** Secures a socket a dialler opened to us; rejects to refuse the connection. */
  inbound(socket: Socket): Promise<SecuredSocket>;
}

/**
 * No authentication: identity is what the handshake claims. Good enough on
 * a dedicated link between the pair; not across an untrusted network.
 */
export const plainTcp: PeerAuthenticator = {
  outbound: (socket) => Promise.resolve({ socket, peerId: null }),
  inbound: (socket) => Promise.resolve({ socket, peerId: null }),
};
