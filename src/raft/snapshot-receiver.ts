/**
 * A follower's assembly of one InstallSnapshot transfer. Chunks must arrive
 * in order (the leader keeps one in flight); the buffer is allocated once at
 * the announced size, which is validated first so a bad or hostile message
 * cannot make the node allocate without bound.
 */
import type { SnapshotChunk, SnapshotMeta } from './types.js';

export type ChunkOutcome =
  | { readonly kind: 'progress'; readonly nextOffset: number }
  | { readonly kind: 'complete'; readonly data: Uint8Array }
  /** The sender must restart from offset 0. */
  | { readonly kind: 'restart'; readonly reason: string };

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}

export class SnapshotReceiver {
  private meta: SnapshotMeta | null = null;
  private buffer: Uint8Array = new Uint8Array(0);
  private received = 0;

  constructor(private readonly maxBytes: number) {}

  get inProgressIndex(): number | null {
    return this.meta?.index ?? null;
  }

  reset(): void {
    this.meta = null;
    this.buffer = new Uint8Array(0);
    this.received = 0;
  }

  accept(m: SnapshotChunk): ChunkOutcome {
    const total = m.totalBytes;
    if (!Number.isSafeInteger(total) || total < 0 || total > this.maxBytes) {
      this.reset();
      return { kind: 'restart', reason: `snapshot size ${total} outside [0, ${this.maxBytes}]` };
    }
    if (!Number.isSafeInteger(m.offset) || m.offset < 0 || !(m.chunk instanceof Uint8Array) || m.offset + m.chunk.byteLength > total) {
      this.reset();
      return { kind: 'restart', reason: `chunk at ${m.offset}+${m.chunk?.byteLength} outside the ${total}-byte snapshot` };
    }
    if (this.meta === null || !sameMeta(this.meta, m.meta) || this.buffer.byteLength !== total) {
      if (m.offset !== 0) {
        this.reset();
        return { kind: 'restart', reason: 'chunk of a transfer this node has not started' };
      }
      this.meta = m.meta;
      this.buffer = new Uint8Array(total);
      this.received = 0;
    }
    // A duplicate or a gap: tell the sender where we are.
    if (m.offset !== this.received) return { kind: 'progress', nextOffset: this.received };
    this.buffer.set(m.chunk, m.offset);
    this.received += m.chunk.byteLength;
    const complete = this.received === total;
    if (complete !== m.done) {
      this.reset();
      return { kind: 'restart', reason: `chunk done=${m.done} but ${this.received} of ${total} bytes received` };
    }
    if (!complete) return { kind: 'progress', nextOffset: this.received };
    const data = this.buffer;
    this.reset();
    return { kind: 'complete', data };
  }
}
