/**
 * The real cluster state machine (src/fsm: applyEntry, snapshot, restore)
 * behind the simulator's application seam. The client workload's register
 * writes become operator notes (`addNote`), so every entry in the log is a
 * real cluster command; the register view of them is kept beside the state
 * for the liveness marker. The chain hash of applied entries travels with
 * the snapshot, as the harness's checkers need.
 */
import { pack, unpack } from 'msgpackr';
import { applyEntry } from '../../src/fsm/apply.js';
import { encodeCommand as encodeClusterCommand, makeCommand } from '../../src/fsm/commands.js';
import { restore as restoreState, snapshot as snapshotState } from '../../src/fsm/snapshot.js';
import { initialState, type ClusterState, type Lease } from '../../src/fsm/state.js';
import type { Entry } from '../../src/raft/types.js';
import { chainStep } from './hash.js';
import { KEYS, SimDataError, type Command, type SimApp, type SimAppKind } from './state-machine.js';

const NOTE_PREFIX = 'kv|';
/** Commands are stamped with virtual time from here (so `at` is deterministic). */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

interface RoleSnapshotBody {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
  readonly kv: readonly (string | null)[];
  /** The cluster state's own canonical snapshot (src/fsm/snapshot.ts). */
  readonly fsm: Uint8Array;
}

/** Told about every lease a node's state takes on, by applying a grant or restoring a snapshot. */
export type LeaseObserver = (lease: Lease) => void;

export class RoleApp implements SimApp {
  index = 0;
  term = 0;
  hash = 0;
  state: ClusterState = initialState();
  private kv: (string | null)[] = new Array<string | null>(KEYS).fill(null);

  constructor(private readonly onLease: LeaseObserver) {}

  apply(entry: Entry): void {
    this.hash = chainStep(this.hash, entry);
    this.index = entry.index;
    this.term = entry.term;
    const before = this.state;
    this.state = applyEntry(before, entry).state;
    const lease = this.state.lease;
    if (lease !== null && lease !== before.lease) this.onLease(lease);
    // A note was applied: if the client wrote it, it is a register write.
    if (entry.payload.type !== 'command' || this.state.notes.count === before.notes.count) return;
    const { text } = unpack(entry.payload.data) as { text: string };
    if (!text.startsWith(NOTE_PREFIX)) return;
    const [, , key, value] = text.split('|');
    const k = Number(key);
    if (value === undefined || !Number.isInteger(k) || k < 0 || k >= KEYS) throw new SimDataError(`undecodable note ${JSON.stringify(text)}`);
    this.kv[k] = value;
  }

  get(key: number): string | null {
    return this.kv[key] ?? null;
  }

  snapshot(): Uint8Array {
    const body: RoleSnapshotBody = { index: this.index, term: this.term, hash: this.hash, kv: this.kv, fsm: snapshotState(this.state) };
    return Uint8Array.from(pack(body));
  }

  restore(data: Uint8Array): void {
    const body = unpack(data) as RoleSnapshotBody;
    this.index = body.index;
    this.term = body.term;
    this.hash = body.hash;
    this.kv = [...body.kv];
    this.state = restoreState(body.fsm);
    if (this.state.appliedIndex !== body.index) {
      throw new SimDataError(`snapshot at ${body.index} holds a cluster state applied to ${this.state.appliedIndex}`);
    }
    if (this.state.lease !== null) this.onLease(this.state.lease);
  }
}

export function roleAppKind(onLease: LeaseObserver): SimAppKind {
  return {
    create: () => new RoleApp(onLease),
    encode: (c: Command) =>
      encodeClusterCommand(makeCommand('addNote', { text: `${NOTE_PREFIX}${c.id}|${c.key}|${c.value}` }, { at: new Date(SIM_EPOCH_MS).toISOString(), principal: 'client' })),
    fingerprint: (data: Uint8Array) => {
      const body = unpack(data) as RoleSnapshotBody;
      return { index: body.index, term: body.term, hash: body.hash };
    },
  };
}
