/**
 * Snapshot and restore of the cluster state. The bytes are canonical
 * (sorted keys, fixed list order), so replicas that applied the same entries
 * produce identical snapshots, which tests and the simulator compare.
 * Restore discards all previous state (hashicorp/raft's FSM contract).
 */
import { packCanonical, unpack } from './canonical.js';
import type { ClusterState } from './state.js';

export const SNAPSHOT_FORMAT = 'hapair-cluster-state';
export const SNAPSHOT_VERSION = 1;

/** A snapshot this build cannot read: written by a newer version, or not ours at all. */
export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export function snapshot(state: ClusterState): Uint8Array {
  return packCanonical({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, state });
}

export function restore(bytes: Uint8Array): ClusterState {
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch (cause) {
    throw new SnapshotFormatError('cluster state snapshot is not valid msgpack', { cause });
  }
  if (typeof raw !== 'object' || raw === null || (raw as { format?: unknown }).format !== SNAPSHOT_FORMAT) {
    throw new SnapshotFormatError(`not a ${SNAPSHOT_FORMAT} snapshot`);
  }
  const { version, state } = raw as { version?: unknown; state?: unknown };
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(
      `cluster state snapshot format version ${JSON.stringify(version)} is not supported (this node reads version ${SNAPSHOT_VERSION}); update this node`,
    );
  }
  if (typeof state !== 'object' || state === null || typeof (state as { appliedIndex?: unknown }).appliedIndex !== 'number') {
    throw new SnapshotFormatError('cluster state snapshot has no state');
  }
  return state as ClusterState;
}
