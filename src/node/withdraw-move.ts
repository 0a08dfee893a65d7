/**
 * Withdrawing an operator's move that was not carried out in time (the
 * switchover API's timeout), and the one answer that says what became of
 * it. Its I/O comes in through MoveWithdrawal, so each answer is tested
 * against the real state machine without a cluster.
 */
import { performance } from 'node:perf_hooks';
import { ServiceError } from '../api/errors.js';
import type { ApplyResult } from '../fsm/apply.js';
import { versionWriteBlock, type ClusterState, type Lease } from '../fsm/state.js';

export interface MoveWithdrawal {
  /** The node the move was for, and the log index its intent was committed at. */
  readonly to: string;
  readonly intentIndex: number;
  /** The time the move was given, in ms (for the answer). */
  readonly waitedMs: number;
  /** This node. */
  readonly self: string;
  /** The replicated state as applied here now. */
  readonly state: () => ClusterState;
  /** This node's Raft role and whether its lease is void (a transfer it sent voided it). */
  readonly raft: () => { readonly role: string; readonly leaseVoid: boolean };
  /** The lease naming the move's target with a newer epoch, once it does. */
  readonly taken: () => Lease | null;
  /** Writes withdrawIntent and resolves with its result once applied here; throws when its outcome is unknown or refused. */
  readonly propose: (intentIndex: number) => Promise<ApplyResult>;
  /** How long to keep trying (a transfer in progress or a leadership hop refuses the write). */
  readonly retryMs: number;
  readonly pauseMs?: number;
}

/** Returns the lease if the move completed after all; otherwise throws TIMEOUT saying what became of it. */
export async function withdrawMove(w: MoveWithdrawal): Promise<Lease> {
  const late = `${w.to} did not take the active role within ${w.waitedMs / 1000} s`;
  // An older build could not apply the withdrawal and would still carry the move out.
  const stillWaits = new ServiceError(
    'TIMEOUT',
    `${late}; the move still waits and happens once ${w.to} can take the role: it cannot be withdrawn while members run different versions; read the status`,
  );
  const deadline = performance.now() + w.retryMs;
  let failure = 'no answer';
  for (;;) {
    const done = w.taken();
    if (done !== null) return done;
    const state = w.state();
    if (state.intent?.index !== w.intentIndex) {
      // A write of ours whose outcome was unknown may be what withdrew it.
      if (withdrawnBy(state, w.intentIndex)) throw withdrawn(w, late);
      throw new ServiceError('TIMEOUT', `${late}; the move had already ended or been replaced by another; read the status`);
    }
    if (versionWriteBlock(state) !== null) throw stillWaits;
    if (performance.now() > deadline) {
      throw new ServiceError('TIMEOUT', `${late}; withdrawing the move failed too (${failure}), so it may still happen; read the status`);
    }
    let result: ApplyResult | null = null;
    try {
      result = await w.propose(w.intentIndex);
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    if (result?.ok === true) throw withdrawn(w, late);
    if (result?.ok === false && result.code === 'VERSION_MISMATCH') throw stillWaits;
    // NOT_FOUND: the move ended or was replaced just before; the checks above say which.
    if (result?.ok !== false || result.code !== 'NOT_FOUND') await new Promise((r) => setTimeout(r, w.pauseMs ?? 50));
  }
}

/** What a withdrawn move leaves: the holder keeps the role only if it leads with a Raft lease (a failed transfer voids it). */
function withdrawn(w: MoveWithdrawal, late: string): ServiceError {
  const lease = w.state().lease;
  const raft = w.raft();
  const holder = lease === null ? 'nobody' : `${lease.holder} (epoch ${lease.epoch})`;
  if (lease !== null && lease.holder === w.self && raft.role === 'leader' && !raft.leaseVoid) {
    return new ServiceError('TIMEOUT', `${late}; the move was withdrawn and will not happen later: ${holder} keeps the active role; read the status for why ${w.to} could not take it`);
  }
  return new ServiceError(
    'TIMEOUT',
    `${late}; the move was withdrawn, but the active role is with ${holder}, which does not lead with a Raft lease now (the attempt may have voided it), ` +
      `so the role may still pass to ${w.to} as a failover; read the status`,
  );
}

/** The audit trail shows the move committed at `intentIndex` withdrawn (its detail names the index). */
function withdrawnBy(state: ClusterState, intentIndex: number): boolean {
  const mark = `asked for at index ${intentIndex})`;
  return state.audit.some((r) => r.command === 'withdrawIntent' && r.outcome === 'applied' && r.detail.endsWith(mark));
}
