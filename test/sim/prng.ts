/**
 * The simulator's only source of randomness: xoshiro128** seeded through
 * splitmix32. One schedule seed derives every stream (network, nemesis,
 * clients, disks, each node incarnation's `config.random`) by hashing the
 * seed with a label, so adding a draw in one stream never shifts another.
 */

function splitmix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return { state: next, value: z >>> 0 };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** 32-bit mix of a seed (any safe integer) and labels: the key of a derived stream. */
export function deriveSeed(seed: number, ...labels: readonly (number | string)[]): number {
  let h = 0x2545f491;
  const feed = (v: number): void => {
    h = Math.imul(h ^ (v >>> 0), 0x9e3779b1);
    h ^= h >>> 15;
  };
  feed(seed % 0x1_0000_0000);
  feed(Math.floor(seed / 0x1_0000_0000));
  for (const label of labels) {
    if (typeof label === 'number') feed(label);
    else for (let i = 0; i < label.length; i++) feed(label.charCodeAt(i));
    feed(0x5f);
  }
  return h >>> 0;
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed32: number) {
    let s = seed32 | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = splitmix32(s);
      s = r.state;
      words.push(r.value);
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  static derive(seed: number, ...labels: readonly (number | string)[]): Prng {
    return new Prng(deriveSeed(seed, ...labels));
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)] as T;
  }
  /** One of `items`, each as likely as its weight (weights >= 0; `fallback` when they sum to 0). Draws one number. */
  pickWeighted<T extends string>(items: readonly T[], weight: Readonly<Record<T, number>>, fallback: T): T {
    let total = 0;
    for (const a of items) total += weight[a];
    let r = this.next() * total;
    for (const a of items) {
      r -= weight[a];
      if (r < 0) return a;
    }
    return fallback;
  }


  /** In-place Fisher-Yates. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** Exponentially distributed integer with the given mean, at least 1. */
  exp(mean: number): number {
    return Math.max(1, Math.round(-Math.log(1 - this.next()) * mean));
  }

  /** A bound `() => number` for `RaftConfig.random`. */
  asRandom(): () => number {
    return () => this.next();
  }
}
