import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Entry, Membership } from '../../src/raft/types.js';

export const MEMBERSHIP: Membership = {
  voters: [
    { id: 'a', kind: 'data', peer: '127.0.0.1:7001' },
    { id: 'b', kind: 'data', peer: '127.0.0.1:7002' },
    { id: 'w', kind: 'witness', peer: '127.0.0.1:7003' },
  ],
  learners: [],
};

/** A temp dir removed when the test ends. */
export function tempDir(t: Test, prefix = 'hapair-storage-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function command(index: number, term: number, bytes: readonly number[]): Entry {
  return { index, term, payload: { type: 'command', data: Uint8Array.from(bytes) } };
}

/** Entries from..to (inclusive) of one term with index-derived payloads. */
export function run(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(command(i, term, [i & 0xff, term & 0xff, 0, 0xff]));
  return out;
}

/** Hashes of the store's data files; LevelDB rewrites its info log (LOG, LOG.old) and LOCK on every open attempt. */
export function dataFileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (name === 'LOG' || name === 'LOG.old' || name === 'LOCK') continue;
    out[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  }
  return out;
}

/** Every binary payload is a plain Uint8Array (not a Buffer or other view type). */
export function binaryIsPlain(entries: readonly Entry[]): boolean {
  return entries.every((e) => e.payload.type !== 'command' || e.payload.data.constructor === Uint8Array);
}
