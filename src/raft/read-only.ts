/**
 * The leader's pending ReadIndex requests (Raft dissertation 6.4): each
 * records the commit index when it arrived and waits until a quorum has
 * acknowledged a heartbeat round sent after it. Acknowledging a later round
 * confirms every earlier one too, so requests are released in order.
 */
import { assert } from '../util/assert.js';
import type { NodeId } from './types.js';

export interface PendingRead {
  /** The key sent as HeartbeatRequest.readCtx; unique within the leader's term. */
  readonly key: string;
  /** The caller's context, returned in the ReadState. */
  readonly ctx: string;
  readonly index: number;
  /** Who asked: the leader itself or a follower that forwarded it. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  private seq = 0;

  constructor(readonly limit: number) {
    assert(limit >= 1, 'read queue limit must be positive');
  }

  get size(): number {
    return this.queue.length;
  }

  full(): boolean {
    return this.queue.length >= this.limit;
  }

  add(ctx: string, index: number, from: NodeId, self: NodeId, term: number): PendingRead {
    assert(!this.full(), 'read queue overflow: the caller must check full() first');
    const read: PendingRead = { key: `${term}.${++this.seq}`, ctx, index, from, acks: new Set([self]) };
    this.queue.push(read);
    return read;
  }

  /** Records an acknowledgement of round `key`; returns the request, or undefined when unknown/already released. */
  ack(key: string, from: NodeId): PendingRead | undefined {
    const read = this.queue.find((r) => r.key === key);
    read?.acks.add(from);
    return read;
  }

  /** Releases `read` and every request queued before it. */
  releaseThrough(read: PendingRead): PendingRead[] {
    const at = this.queue.indexOf(read);
    assert(at >= 0, `read ${read.key} not queued`);
    const released = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  drain(): PendingRead[] {
    const all = this.queue;
    this.queue = [];
    return all;
  }
}
