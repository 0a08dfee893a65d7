/**
 * Canonical encodings: the same value always gives the same bytes, whatever
 * order its object keys were created in. Two replicas that applied the same
 * commands therefore produce byte-identical snapshots, and a backup's
 * checksum does not depend on who wrote the file.
 */
import { hash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { assert } from '../util/assert.js';

/** Plain data only: no undefined, functions, Maps, class instances, non-finite numbers. */
export type Plain = null | boolean | number | string | Uint8Array | readonly Plain[] | { readonly [key: string]: Plain };

/** Records off: structure-sharing extensions would make bytes depend on encoder history. */
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Deep copy with object keys sorted; asserts the value is plain data. */
export function canonicalize(value: unknown, path = '$'): Plain {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    assert(Number.isFinite(value), `canonical: non-finite number at ${path}`);
    // -0 and 0 pack differently; state never needs -0.
    return value === 0 ? 0 : value;
  }
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((v, i) => canonicalize(v, `${path}[${i}]`));
  assert(typeof value === 'object', `canonical: ${typeof value} at ${path}`);
  const proto = Object.getPrototypeOf(value) as unknown;
  assert(proto === Object.prototype || proto === null, `canonical: non-plain object at ${path}`);
  const out: Record<string, Plain> = {};
  for (const key of Object.keys(value).sort()) {
    const child = (value as Record<string, unknown>)[key];
    assert(child !== undefined, `canonical: undefined at ${path}.${key}`);
    out[key] = canonicalize(child, `${path}.${key}`);
  }
  return out;
}

/** msgpack bytes of the canonical form, copied out of the encoder's shared buffer. */
export function packCanonical(value: unknown): Uint8Array {
  return Uint8Array.from(packr.pack(canonicalize(value)));
}

export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes) as unknown;
}

/** JSON with sorted keys and no whitespace (the text the backup checksum covers). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
