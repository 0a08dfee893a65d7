/**
 * Hashes the checkers use to compare logs and state machines cheaply: a
 * 53-bit chain over (index, term, payload) so one number at index i stands
 * for the whole log prefix up to i. Two logs agree up to i exactly when
 * their chain values at i agree (up to a 2^-53 collision chance).
 */
import type { Entry, EntryPayload } from '../../src/raft/types.js';
import { unreachable } from '../../src/util/assert.js';

const TWO_32 = 0x1_0000_0000;
const LOW_21 = 0x1f_ffff;

function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over bytes. */
export function bytesHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

export function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function payloadHash(payload: EntryPayload): number {
  switch (payload.type) {
    case 'noop':
      return 0x6e6f6f70;
    case 'command':
      return mix(0x636d6400, bytesHash(payload.data));
    case 'membership':
      return mix(0x6d656d00, stringHash(JSON.stringify(payload.change)));
    default:
      return unreachable(payload);
  }
}

/** Chain value after `entry`, given the chain value at entry.index - 1 (0 before index 1). */
export function chainStep(prev: number, entry: Entry): number {
  const lo = prev % TWO_32;
  const hi = Math.floor(prev / TWO_32);
  const p = payloadHash(entry.payload);
  let a = 0x9e3779b9;
  a = mix(a, lo);
  a = mix(a, hi);
  a = mix(a, entry.index);
  a = mix(a, entry.term);
  a = mix(a, p);
  let b = 0x7f4a7c15;
  b = mix(b, p);
  b = mix(b, entry.term);
  b = mix(b, entry.index);
  b = mix(b, hi);
  b = mix(b, lo);
  return (a & LOW_21) * TWO_32 + b;
}

/** Order-sensitive accumulator of small integers: the trace fingerprint of a schedule. */
export class TraceHash {
  private a = 0x243f6a88;
  private b = 0x85a308d3;
  private count = 0;

  add(...values: readonly number[]): void {
    for (const v of values) {
      const lo = v >>> 0;
      const hi = Math.floor(v / TWO_32) >>> 0;
      this.a = mix(this.a, lo ^ hi);
      this.b = mix(this.b ^ this.a, lo + 0x9e3779b9);
    }
    this.count++;
  }

  addString(s: string): void {
    this.add(stringHash(s), s.length);
  }

  digest(): string {
    return `${this.a.toString(16).padStart(8, '0')}${this.b.toString(16).padStart(8, '0')}-${this.count}`;
  }
}
