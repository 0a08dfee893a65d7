/**
 * The seam between the HTTP API and a running node: everything the API needs,
 * nothing about how the node does it. The agent (src/node) implements it over
 * the Raft node, the state machine and the role logic; the API tests
 * implement it with a fake.
 *
 * Contract for every method:
 * - an operation the cluster refuses or cannot do rejects with a
 *   `ServiceError` (src/api/errors.ts) whose code says why; anything else
 *   thrown is a bug and is answered as INTERNAL (and logged);
 * - writes (`put*`, `switchover`, `setMaintenance`, `join`, `leave`, backups
 *   except list/export) resolve once the change is committed and applied on
 *   this node; the API only calls them on the leader (or when the leader is
 *   unknown, see `leaderApi`), so a follower implementation may simply reject
 *   with NOT_LEADER;
 * - `principal` is the authenticated caller, for the audit log.
 */
import type { Registry } from 'prom-client';
import type { Principal } from '../auth/roles.js';
import type {
  AuditEntry,
  BackupInfo,
  Condition,
  ConfigView,
  JoinRequest,
  MaintenanceResult,
  MembershipResult,
  NodeInfo,
  NotesView,
  PolicyView,
  RestoreResult,
  StatusView,
  SwitchoverRequest,
  SwitchoverResult,
} from './schemas.js';

export type { Principal, Role } from '../auth/roles.js';
export type {
  ActiveView,
  AuditEntry,
  BackupInfo,
  Condition,
  ConfigView,
  JoinRequest,
  MaintenanceResult,
  MemberRef,
  MemberStatus,
  MembershipResult,
  NodeInfo,
  NotesView,
  PolicyView,
  ReadInfo,
  SetupCheck,
  RestoreResult,
  StatusView,
  SwitchoverRequest,
  SwitchoverResult,
} from './schemas.js';
export { ServiceError, type ErrorCode } from './errors.js';

export interface ReadOptions {
  /** Go through ReadIndex (a round to a quorum) instead of reading local applied state. */
  readonly linearizable: boolean;
}

/** A readiness or liveness probe answer; `reason` is a sentence, shown when not ok. */
export interface Probe {
  readonly ok: boolean;
  readonly reason: string;
}

/** Where writes go when this node is not the leader. */
export interface LeaderApi {
  readonly id: string;
  /** Base URL of the leader's API, e.g. `https://10.0.0.12:7480` (no trailing slash). */
  readonly url: string;
}

/** A backup file as downloaded by `GET /v1/backups/:id/export`. */
export interface BackupFile {
  /** Suggested file name for the download (no directory part). */
  readonly fileName: string;
  readonly data: Uint8Array;
}

/**
 * What `GET /v1/events` streams (one SSE event each, `event:` = `type`,
 * `data:` = the JSON object). Live only: no replay after a reconnect, so a
 * client re-reads /v1/status when it (re)connects. New variants may be added;
 * clients ignore types they do not know.
 */
export type ClusterEvent =
  | { readonly type: 'leader'; readonly at: string; readonly leader: string | null; readonly term: number }
  | {
      readonly type: 'role';
      readonly at: string;
      /** The new holder of the active role, or null when no node holds it. */
      readonly active: string | null;
      readonly previous: string | null;
      readonly epoch: number;
      readonly reason: string;
    }
  | {
      readonly type: 'monitor';
      readonly at: string;
      readonly node: string;
      readonly monitor: string;
      readonly up: boolean;
      readonly detail: string;
    }
  | { readonly type: 'condition'; readonly at: string; readonly raised: boolean; readonly condition: Condition }
  | {
      readonly type: 'member';
      readonly at: string;
      readonly node: string;
      readonly change: 'joined' | 'left' | 'reachable' | 'unreachable' | 'maintenance-on' | 'maintenance-off';
    }
  | { readonly type: 'config' | 'policy'; readonly at: string; readonly revision: number; readonly by: string }
  | {
      readonly type: 'backup';
      readonly at: string;
      readonly id: string;
      readonly action: 'created' | 'imported' | 'restored';
      readonly by: string;
    };

export type ClusterEventListener = (event: ClusterEvent) => void;

export interface ClusterService {
  /** This node's id (sent as `x-hapair-node` and named in NOT_LEADER messages). */
  readonly nodeId: string;

  status(opts: ReadOptions): Promise<StatusView>;

  /**
   * This node alone (never forwarded): identity, what it applied, its timers
   * and its own setup check. `hapair join` reads it from the new node, and
   * the setup check from every node.
   */
  nodeInfo(): Promise<NodeInfo>;

  getConfig(opts: ReadOptions): Promise<ConfigView>;
  /**
   * Replace the cluster settings. `ifMatch` is the revision the caller based
   * the change on (null: no compare-and-set); a different current revision
   * rejects with REVISION_CONFLICT; invalid settings with CONFIG_INVALID,
   * message `path: problem` (src/fsm/settings.ts errors joined with "; ").
   */
  putConfig(settings: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<ConfigView>;

  getPolicy(opts: ReadOptions): Promise<PolicyView>;
  /** As putConfig, for the security policy (POLICY_INVALID). */
  putPolicy(policy: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<PolicyView>;

  /** Resolves once the new active holds the role; SWITCHOVER_REFUSED with the reason otherwise. */
  switchover(request: SwitchoverRequest, principal: Principal): Promise<SwitchoverResult>;
  /** MEMBER_NOT_FOUND, MAINTENANCE_REFUSED. */
  setMaintenance(id: string, on: boolean, principal: Principal): Promise<MaintenanceResult>;

  /** Add a member (VERSION_MISMATCH, MEMBERSHIP_REFUSED). */
  join(request: JoinRequest, principal: Principal): Promise<MembershipResult>;
  /** Remove a member (MEMBER_NOT_FOUND, MEMBERSHIP_REFUSED). */
  leave(id: string, principal: Principal): Promise<MembershipResult>;

  listBackups(): Promise<readonly BackupInfo[]>;
  createBackup(comment: string, principal: Principal): Promise<BackupInfo>;
  /** BACKUP_NOT_FOUND. */
  exportBackup(id: string): Promise<BackupFile>;
  /** BACKUP_INVALID when `data` is not a backup this version can read. */
  importBackup(data: Uint8Array, principal: Principal): Promise<BackupInfo>;
  /** BACKUP_NOT_FOUND, RESTORE_REFUSED. */
  restoreBackup(id: string, principal: Principal): Promise<RestoreResult>;

  /** The newest `limit` audit entries, newest first. */
  audit(limit: number): Promise<readonly AuditEntry[]>;

  /** Lets automatic moves (failback) happen again after flap damping stopped them; resolves once applied here. */
  clearFlapDamping(principal: Principal): Promise<{ readonly cleared: boolean }>;

  /** Commits an operator note to the audit trail; resolves once applied here. */
  addNote(text: string, principal: Principal): Promise<NotesView>;
  notes(): Promise<NotesView>;

  /**
   * Register a listener for cluster events; returns the function that
   * unregisters it. The listener must not throw and is called synchronously;
   * the API buffers per client with a bound.
   */
  subscribeEvents(listener: ClusterEventListener): () => void;

  /** The node's prom-client registry, scraped by GET /metrics (the API adds its own metrics to the text). */
  metricsRegistry(): Registry;

  /** Liveness for service managers: false only when restarting the agent would help. */
  health(): Probe;
  /** Readiness: the node can answer reads and route writes (joined, knows a leader). */
  ready(): Probe;

  /**
   * Where to forward writes: the leader's id and API URL when another node is
   * the known leader; null when this node is the leader or no leader is known
   * (then the write is tried here, and the service answers NOT_LEADER or
   * NO_QUORUM as it must).
   */
  leaderApi(): LeaderApi | null;
}
