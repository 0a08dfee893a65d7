/**
 * A binary min-heap of timed events, ordered by (time, insertion order) so
 * that equal times pop in a deterministic order. Bounded: the owner decides
 * what to drop when `isFull()`.
 */
export interface Timed {
  readonly time: number;
}

interface Slot<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

export class EventQueue<T extends Timed> {
  private readonly heap: Slot<T>[] = [];
  private seq = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.heap.length;
  }

  isFull(): boolean {
    return this.heap.length >= this.capacity;
  }

  push(item: T): void {
    if (this.isFull()) throw new RangeError(`event queue over its bound of ${this.capacity}`);
    const slot: Slot<T> = { time: item.time, seq: this.seq++, item };
    const heap = this.heap;
    heap.push(slot);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Slot<T>;
      if (!less(slot, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = slot;
  }

  peekTime(): number | null {
    const top = this.heap[0];
    return top === undefined ? null : top.time;
  }

  pop(): T | null {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return null;
    const last = heap.pop() as Slot<T>;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      while (true) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && less(heap[r] as Slot<T>, heap[l] as Slot<T>)) c = r;
        const child = heap[c] as Slot<T>;
        if (!less(child, last)) break;
        heap[i] = child;
        i = c;
      }
      heap[i] = last;
    }
    return top.item;
  }
}

function less<T>(x: Slot<T>, y: Slot<T>): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}
