/**
 * The simulated application: a 16-key register map driven by commands
 * `id|key|value`. Besides the map it keeps the chain hash of every entry
 * it applied (noops and membership entries too), so the checker can compare
 * two nodes' applied histories in O(1) at any index, and so a snapshot
 * carries a fingerprint of the exact prefix it stands for.
 */
import type { Entry } from '../../src/raft/types.js';
import { chainStep } from './hash.js';

export const KEYS = 16;
/** Written only by the liveness phase's marker proposals. */
export const MARKER_KEY = KEYS - 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Command {
  readonly id: string;
  readonly key: number;
  readonly value: string;
}

export function encodeCommand(c: Command): Uint8Array {
  return encoder.encode(`${c.id}|${c.key}|${c.value}`);
}

export function decodeCommand(data: Uint8Array): Command {
  const [id, key, value] = decoder.decode(data).split('|');
  const k = Number(key);
  if (id === undefined || value === undefined || !Number.isInteger(k) || k < 0 || k >= KEYS) {
    throw new SimDataError(`undecodable command ${JSON.stringify(decoder.decode(data))}`);
  }
  return { id, key: k, value };
}

/** A payload the simulator never wrote reached the state machine. */
export class SimDataError extends Error {
  override name = 'SimDataError';
}

/**
 * What the harness needs of an application: apply committed entries in
 * order, snapshot and restore, and the chain hash of what it applied. The
 * register map below is the default; role-app.ts runs the real cluster
 * state machine (src/fsm) behind the same seam.
 */
export interface SimApp {
  readonly index: number;
  readonly term: number;
  /** Chain hash of all applied entries: equals any holder's log chain at `index`. */
  readonly hash: number;
  apply(entry: Entry): void;
  /** The register `key` as the client workload wrote it (the liveness marker is one). */
  get(key: number): string | null;
  snapshot(): Uint8Array;
  /** Discards everything and takes the snapshot's state. */
  restore(data: Uint8Array): void;
}

/** How a schedule makes its application and its client commands. */
export interface SimAppKind {
  create(): SimApp;
  /** The payload of a client command. */
  encode(command: Command): Uint8Array;
  /** The chain fingerprint carried in snapshot data, read without building the application. */
  fingerprint(data: Uint8Array): { index: number; term: number; hash: number };
}

interface SnapshotBody {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
  readonly commands: number;
  readonly kv: readonly (string | null)[];
}

export class StateMachine implements SimApp {
  index = 0;
  term = 0;
  /** Chain hash of all applied entries: equals any holder's log chain at `index`. */
  hash = 0;
  commands = 0;
  private kv: (string | null)[] = new Array<string | null>(KEYS).fill(null);

  apply(entry: Entry): void {
    this.hash = chainStep(this.hash, entry);
    this.index = entry.index;
    this.term = entry.term;
    if (entry.payload.type !== 'command') return;
    const c = decodeCommand(entry.payload.data);
    this.kv[c.key] = c.value;
    this.commands++;
  }

  get(key: number): string | null {
    return this.kv[key] ?? null;
  }

  snapshot(): Uint8Array {
    const body: SnapshotBody = { index: this.index, term: this.term, hash: this.hash, commands: this.commands, kv: this.kv };
    return encoder.encode(JSON.stringify(body));
  }

  restore(data: Uint8Array): void {
    const body = JSON.parse(decoder.decode(data)) as SnapshotBody;
    this.index = body.index;
    this.term = body.term;
    this.hash = body.hash;
    this.commands = body.commands;
    this.kv = [...body.kv];
  }
}

/** Reads the chain fingerprint out of snapshot data without building a state machine. */
export function snapshotFingerprint(data: Uint8Array): { index: number; term: number; hash: number } {
  const body = JSON.parse(decoder.decode(data)) as SnapshotBody;
  return { index: body.index, term: body.term, hash: body.hash };
}

export const KV_APP: SimAppKind = {
  create: () => new StateMachine(),
  encode: encodeCommand,
  fingerprint: snapshotFingerprint,
};
