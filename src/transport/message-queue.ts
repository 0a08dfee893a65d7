/**
 * A per-peer FIFO of encoded messages bounded in count and bytes. When full
 * the oldest messages go first: for Raft a fresh heartbeat or append is
 * worth more than a stale one, and lost messages are retried by the core.
 */
import { assert } from '../util/assert.js';

export class BoundedMessageQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(Number.isSafeInteger(maxMessages) && maxMessages > 0, `maxMessages must be a positive integer, got ${maxMessages}`);
    assert(Number.isSafeInteger(maxBytes) && maxBytes > 0, `maxBytes must be a positive integer, got ${maxBytes}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get byteLength(): number {
    return this.bytes;
  }

  /** Adds one message; returns how many old messages were dropped to make room. */
  push(message: Uint8Array): number {
    assert(message.byteLength <= this.maxBytes, 'a message larger than the whole queue must be refused by the caller');
    this.items.push(message);
    this.bytes += message.byteLength;
    let dropped = 0;
    while (this.length > this.maxMessages || this.bytes > this.maxBytes) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  peek(): Uint8Array | undefined {
    return this.items[this.head];
  }

  shift(): Uint8Array | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.head++;
    this.bytes -= item.byteLength;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the queue; returns how many messages were discarded. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return n;
  }
}
