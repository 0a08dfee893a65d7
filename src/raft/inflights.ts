/**
 * The append messages in flight to one follower, as a bounded ring of the
 * last index each carried. When it is full the leader stops sending until
 * acknowledgements free slots: this is what bounds a pipeline.
 */
import { assert } from '../util/assert.js';

export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  private length = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 1, `inflight capacity must be a positive integer, got ${capacity}`);
    this.buffer = new Array<number>(capacity).fill(0);
  }

  get count(): number {
    return this.length;
  }

  full(): boolean {
    return this.length === this.capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights overflow: the caller must check full() first');
    if (this.length > 0) {
      const newest = this.buffer[(this.start + this.length - 1) % this.capacity] as number;
      assert(lastIndex > newest, `inflight ${lastIndex} not after ${newest}`);
    }
    this.buffer[(this.start + this.length) % this.capacity] = lastIndex;
    this.length++;
  }

  /** Frees every message whose last index is <= `index` (acknowledged by a cumulative ack). */
  freeLE(index: number): void {
    while (this.length > 0 && (this.buffer[this.start] as number) <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.length--;
    }
  }

  reset(): void {
    this.start = 0;
    this.length = 0;
  }
}
