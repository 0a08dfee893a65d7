/**
 * The replicated cluster state: what every node holds after applying the
 * same committed commands. Plain, immutable data; every list is bounded and
 * kept in a fixed order (members by id, the rest by log index) so snapshots
 * are canonical.
 */
import type { MemberKind, NodeId } from '../raft/types.js';
import type {
  BackupContent,
  HealthState,
  LeaseReason,
  MonitorState,
  MoveReason,
} from './commands.js';
import { DEFAULT_SETTINGS, type ClusterSettings } from './settings.js';

export const STATE_LIMITS = {
  /** Audit records kept (a ring: the oldest goes first). */
  audit: 256,
  /** Backups kept (the oldest goes first). */
  backups: 16,
  /** Role moves kept for flap damping and status. */
  moves: 32,
  /** Members (data nodes and witnesses). */
  members: 8,
} as const;

export interface HealthReport {
  readonly at: string;
  readonly index: number;
  readonly health: HealthState;
  readonly monitors: readonly { readonly name: string; readonly state: MonitorState }[];
  readonly appliedConfigRevision: number;
  readonly appliedPolicyRevision: number;
  /** The last attempt to apply a policy revision (the revision in force is appliedPolicyRevision). */
  readonly policyApply: { readonly revision: number; readonly ok: boolean; readonly error: string | null };
  readonly peers: readonly { readonly id: NodeId; readonly reachable: boolean }[];
  /** The reporter's check of its VIPs' devices; absent when its build does not report it. */
  readonly vipSetup?: VipSetupReport;
  /** A recent failure to take or keep the VIPs, over now (see the reportHealth command); absent when none. */
  readonly holdFault?: string;
}

/** A data node's check that it can hold the VIPs of settings revision `revision` (R7): why not, empty when it can. */
export interface VipSetupReport {
  readonly revision: number;
  readonly problems: readonly string[];
}

export interface MemberRecord {
  readonly id: NodeId;
  readonly kind: MemberKind;
  readonly peer: string;
  readonly api: string;
  readonly version: string;
  readonly entitlementPresent: boolean;
  readonly maintenance: boolean;
  readonly registeredAt: string;
  readonly health: HealthReport | null;
}

export interface Lease {
  readonly holder: NodeId;
  /** The fencing token: strictly increasing over the life of the cluster. */
  readonly epoch: number;
  readonly since: string;
  readonly reason: LeaseReason;
  /** Log index and Raft term of the grant. */
  readonly index: number;
  readonly term: number;
}

/** A planned move recorded before the leadership transfer, so the next leader knows why it takes the role. */
export interface MoveIntent {
  readonly to: NodeId;
  readonly reason: MoveReason;
  /** The lease epoch being moved away from. */
  readonly epoch: number;
  readonly principal: string;
  readonly at: string;
  readonly index: number;
}

export interface RoleMove {
  readonly epoch: number;
  readonly from: NodeId | null;
  readonly to: NodeId;
  readonly reason: LeaseReason;
  readonly at: string;
  readonly index: number;
}

export interface Backup {
  readonly id: string;
  readonly at: string;
  readonly author: string;
  readonly comment: string;
  /** SHA-256 (hex) of the canonical JSON of `content`. */
  readonly sha256: string;
  /** Index of the entry that created it here (createBackup or importBackup). */
  readonly index: number;
  /** Where an imported backup came from: its cluster (if known), id and index there. */
  readonly origin: { readonly cluster: string | null; readonly id: string; readonly index: number } | null;
  readonly content: BackupContent & { readonly settings: ClusterSettings };
}

export interface AuditRecord {
  readonly index: number;
  readonly at: string;
  readonly principal: string;
  readonly command: string;
  readonly outcome: 'applied' | 'refused';
  /** What changed (or why it was refused), one line. */
  readonly detail: string;
}

export interface ApplyError {
  readonly index: number;
  readonly code: 'UNSUPPORTED_COMMAND' | 'MALFORMED_COMMAND';
  readonly message: string;
}

export interface ClusterState {
  readonly appliedIndex: number;
  /** Sorted by id. */
  readonly members: readonly MemberRecord[];
  readonly settings: ClusterSettings;
  /** Bumped by every accepted settings write and restore; 0 before the first. */
  readonly configRevision: number;
  readonly policy: { readonly ruleset: string; readonly revision: number };
  readonly lease: Lease | null;
  readonly intent: MoveIntent | null;
  /** Oldest first. */
  readonly moves: readonly RoleMove[];
  /** Set when the role moved too often; only an operator clears it. */
  readonly flapDamped: { readonly since: string; readonly moves: number; readonly index: number } | null;
  /** Index of the last clearFlapDamping: moves at or before it no longer count. */
  readonly flapClearedIndex: number;
  /** Oldest first. */
  readonly backups: readonly Backup[];
  /** Oldest first. */
  readonly audit: readonly AuditRecord[];
  /** The last command this node could not apply (a newer version, an unknown type). */
  readonly lastApplyError: ApplyError | null;
  /**
   * Operator notes committed so far: how many, and the XOR of their SHA-256
   * digests (order-independent), so any replica can prove it holds exactly
   * the notes a client was told were committed. The texts are in the audit trail.
   */
  readonly notes: { readonly count: number; readonly xor: string };
}

export function initialState(): ClusterState {
  return {
    appliedIndex: 0,
    members: [],
    settings: DEFAULT_SETTINGS,
    configRevision: 0,
    policy: { ruleset: '', revision: 0 },
    lease: null,
    intent: null,
    moves: [],
    flapDamped: null,
    flapClearedIndex: 0,
    backups: [],
    audit: [],
    lastApplyError: null,
    notes: { count: 0, xor: '0'.repeat(64) },
  };
}

export function findMember(state: ClusterState, id: NodeId | null | undefined): MemberRecord | undefined {
  return id === null || id === undefined ? undefined : state.members.find((m) => m.id === id);
}

export function isPreferred(state: ClusterState, id: NodeId): boolean {
  return state.settings.preferred === id;
}

/** Distinct software versions among members, sorted; more than one means an update is under way. */
export function memberVersions(state: ClusterState): string[] {
  return [...new Set(state.members.map((m) => m.version))].sort();
}

/** A sentence when settings/policy writes must be refused because versions differ (R11), else null. */
export function versionWriteBlock(state: ClusterState): string | null {
  if (memberVersions(state).length <= 1) return null;
  const list = state.members.map((m) => `${m.id} ${m.version}`).join(', ');
  return `members run different software versions (${list}): settings, policy and restore writes are refused until every node runs the same version`;
}
