/**
 * A ClusterService for API and CLI tests: in-memory state, every call
 * recorded, and any method can be told to fail with a ServiceError.
 */
import { createHash } from 'node:crypto';
import { Gauge, Registry } from 'prom-client';
import type {
  AuditEntry,
  BackupFile,
  BackupInfo,
  ClusterEvent,
  ClusterEventListener,
  ClusterService,
  ConfigView,
  JoinRequest,
  LeaderApi,
  MaintenanceResult,
  MembershipResult,
  MemberRef,
  NodeInfo,
  NotesView,
  PolicyView,
  Principal,
  Probe,
  ReadOptions,
  RestoreResult,
  StatusView,
  SwitchoverRequest,
  SwitchoverResult,
} from '../../src/api/cluster-service.js';
import { ServiceError } from '../../src/api/errors.js';

export interface Call {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly principal: Principal | null;
}

type Failable = Exclude<keyof ClusterService, 'nodeId'>;

export const SINCE = '2026-11-25T10:00:00.000Z';

export class FakeService implements ClusterService {
  readonly calls: Call[] = [];
  readonly failures = new Map<Failable, ServiceError | Error>();
  leader: LeaderApi | null = null;
  healthProbe: Probe = { ok: true, reason: 'agent loop running' };
  readyProbe: Probe = { ok: true, reason: 'leader known' };
  settings: Record<string, unknown> = { vips: [], preferred: 'fw1', failback: { auto: true, holdDownMs: 5000 } };
  configRevision = 3;
  policy: Record<string, unknown> = { rules: [] };
  policyRevision = 1;
  maintenance = new Map<string, boolean>();
  members: MemberRef[] = [
    { id: 'fw1', kind: 'data', peer: '127.0.0.1:7401', api: '127.0.0.1:7481', voter: true },
    { id: 'fw2', kind: 'data', peer: '127.0.0.1:7402', api: '127.0.0.1:7482', voter: true },
    { id: 'wit', kind: 'witness', peer: '127.0.0.1:7403', api: '127.0.0.1:7483', voter: true },
  ];
  backups: Array<BackupInfo & { data: Uint8Array }> = [];
  auditEntries: AuditEntry[] = [];
  /** What GET /v1/node answers (a test may change it). */
  info: NodeInfo;
  /** Extra fields put on the status object, to check that the response schema filters them. */
  statusExtra: Record<string, unknown> = {};
  readonly listeners = new Set<ClusterEventListener>();
  private readonly registry = new Registry();

  constructor(readonly nodeId = 'fw1') {
    this.info = {
      node: nodeId,
      kind: 'data',
      cluster: 'edge',
      version: '0.3.0',
      peer: '127.0.0.1:7401',
      api: '127.0.0.1:7481',
      membership: 'voter',
      join: [],
      leader: 'fw1',
      appliedIndex: 120,
      configRevision: this.configRevision,
      settingsSha256: 'a'.repeat(64),
      policyRevision: this.policyRevision,
      policySha256: 'b'.repeat(64),
      appliedPolicyRevision: this.policyRevision,
      driver: 'sim',
      interfaces: { lan: 'lan0' },
      raft: { tickMs: 10, electionTicks: 100, heartbeatTicks: 10, voteRefusalTicks: 100, snapshotIndex: 0 },
      check: { ok: true, problems: [], vips: [] },
    };
    new Gauge({ name: 'hapair_term', help: 'current Raft term', registers: [this.registry] }).set(7);
  }

  private enter(method: Failable, args: readonly unknown[], principal: Principal | null = null): void {
    this.calls.push({ method, args, principal });
    const failure = this.failures.get(method);
    if (failure !== undefined) throw failure;
  }

  lastCall(method: string): Call | undefined {
    return this.calls.filter((c) => c.method === method).at(-1);
  }

  emit(event: ClusterEvent): void {
    for (const l of this.listeners) l(event);
  }

  async status(opts: ReadOptions): Promise<StatusView> {
    this.enter('status', [opts]);
    const status: StatusView = {
      node: this.nodeId,
      cluster: 'edge',
      leader: 'fw1',
      term: 7,
      active: { node: 'fw1', epoch: 4, since: SINCE, reason: 'failback' },
      members: [
        { id: 'fw1', kind: 'data', role: 'active', reachable: true, health: 'healthy', version: '0.3.0', appliedIndex: 120, maintenance: false },
        { id: 'fw2', kind: 'data', role: 'standby', reachable: true, health: 'degraded', version: '0.3.0', appliedIndex: 118, maintenance: this.maintenance.get('fw2') ?? false },
        { id: 'wit', kind: 'witness', role: 'witness', reachable: false, health: 'unknown', version: null, appliedIndex: 90, maintenance: false },
      ],
      configRevision: this.configRevision,
      conditions: [
        { code: 'PEER_UNREACHABLE', severity: 'critical', message: 'wit has not answered for 12 s' },
        { code: 'MONITOR_DOWN', severity: 'warning', message: 'fw2: monitor upstream is down (3 failed pings)' },
      ],
      read: { linearizable: opts.linearizable, appliedIndex: 120, leaderContactMs: 0 },
    };
    return { ...status, ...this.statusExtra } as StatusView;
  }

  async nodeInfo(): Promise<NodeInfo> {
    this.enter('nodeInfo', []);
    return this.info;
  }

  async getConfig(opts: ReadOptions): Promise<ConfigView> {
    this.enter('getConfig', [opts]);
    return { revision: this.configRevision, settings: this.settings };
  }

  async putConfig(settings: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<ConfigView> {
    this.enter('putConfig', [settings, ifMatch], principal);
    if (ifMatch !== null && ifMatch !== this.configRevision) {
      throw new ServiceError('REVISION_CONFLICT', `config revision is ${this.configRevision}, not ${ifMatch}`);
    }
    if (typeof settings['preferred'] === 'number') {
      throw new ServiceError('CONFIG_INVALID', `preferred: must be a node id, got ${String(settings['preferred'])}`);
    }
    this.settings = settings;
    this.configRevision += 1;
    return { revision: this.configRevision, settings, updatedBy: principal.name };
  }

  async getPolicy(opts: ReadOptions): Promise<PolicyView> {
    this.enter('getPolicy', [opts]);
    return { revision: this.policyRevision, policy: this.policy };
  }

  async putPolicy(policy: Record<string, unknown>, ifMatch: number | null, principal: Principal): Promise<PolicyView> {
    this.enter('putPolicy', [policy, ifMatch], principal);
    if (ifMatch !== null && ifMatch !== this.policyRevision) {
      throw new ServiceError('REVISION_CONFLICT', `policy revision is ${this.policyRevision}, not ${ifMatch}`);
    }
    this.policy = policy;
    this.policyRevision += 1;
    return { revision: this.policyRevision, policy };
  }

  async switchover(request: SwitchoverRequest, principal: Principal): Promise<SwitchoverResult> {
    this.enter('switchover', [request], principal);
    const to = request.to ?? 'fw2';
    if (to === 'wit') throw new ServiceError('SWITCHOVER_REFUSED', 'wit is a witness and never takes the active role');
    return { active: { node: to, epoch: 5, since: SINCE, reason: 'switchover' }, previous: 'fw1', durationMs: 42 };
  }

  async setMaintenance(id: string, on: boolean, principal: Principal): Promise<MaintenanceResult> {
    this.enter('setMaintenance', [id, on], principal);
    if (!this.members.some((m) => m.id === id)) throw new ServiceError('MEMBER_NOT_FOUND', `no member ${id}`);
    this.maintenance.set(id, on);
    return { id, maintenance: on };
  }

  async join(request: JoinRequest, principal: Principal): Promise<MembershipResult> {
    this.enter('join', [request], principal);
    if (request.version !== undefined && request.version !== '0.3.0') {
      throw new ServiceError('VERSION_MISMATCH', `${request.id} runs ${request.version}; the cluster runs 0.3.0`);
    }
    this.members.push({ id: request.id, kind: request.kind, peer: request.peer, api: request.api, voter: true });
    return { members: this.members };
  }

  async leave(id: string, principal: Principal): Promise<MembershipResult> {
    this.enter('leave', [id], principal);
    if (!this.members.some((m) => m.id === id)) throw new ServiceError('MEMBER_NOT_FOUND', `no member ${id}`);
    this.members = this.members.filter((m) => m.id !== id);
    return { members: this.members };
  }

  async listBackups(): Promise<readonly BackupInfo[]> {
    this.enter('listBackups', []);
    return this.backups.map(({ data: _data, ...info }) => info);
  }

  async createBackup(comment: string, principal: Principal): Promise<BackupInfo> {
    this.enter('createBackup', [comment], principal);
    return this.addBackup(Buffer.from(JSON.stringify({ settings: this.settings, policy: this.policy })), comment, principal.name);
  }

  private addBackup(data: Uint8Array, comment: string, by: string): BackupInfo {
    const info: BackupInfo = {
      id: `b${this.backups.length + 1}`,
      createdAt: SINCE,
      createdBy: by,
      comment,
      configRevision: this.configRevision,
      sizeBytes: data.byteLength,
      sha256: createHash('sha256').update(data).digest('hex'),
    };
    this.backups.push({ ...info, data });
    return info;
  }

  async exportBackup(id: string): Promise<BackupFile> {
    this.enter('exportBackup', [id]);
    const b = this.backups.find((x) => x.id === id);
    if (b === undefined) throw new ServiceError('BACKUP_NOT_FOUND', `no backup ${id}`);
    return { fileName: `edge-${id}.hapair-backup`, data: b.data };
  }

  async importBackup(data: Uint8Array, principal: Principal): Promise<BackupInfo> {
    this.enter('importBackup', [data], principal);
    if (Buffer.from(data).subarray(0, 1).toString() !== '{') throw new ServiceError('BACKUP_INVALID', 'not a hapair backup');
    return this.addBackup(data, 'imported', principal.name);
  }

  async restoreBackup(id: string, principal: Principal): Promise<RestoreResult> {
    this.enter('restoreBackup', [id], principal);
    if (!this.backups.some((b) => b.id === id)) throw new ServiceError('BACKUP_NOT_FOUND', `no backup ${id}`);
    this.configRevision += 1;
    return { restored: id, configRevision: this.configRevision };
  }

  notesView: NotesView = { count: 0, xor: '0'.repeat(64), recent: [] };

  async addNote(text: string, principal: Principal): Promise<NotesView> {
    this.enter('addNote', [text, principal]);
    this.notesView = { ...this.notesView, count: this.notesView.count + 1, recent: [{ index: 7, at: '2026-11-25T10:00:00.000Z', by: principal.name, text }] };
    return this.notesView;
  }

  async clearFlapDamping(principal: Principal): Promise<{ readonly cleared: boolean }> {
    this.enter('clearFlapDamping', [principal]);
    return { cleared: true };
  }

  async notes(): Promise<NotesView> {
    this.enter('notes', []);
    return this.notesView;
  }

  async audit(limit: number): Promise<readonly AuditEntry[]> {
    this.enter('audit', [limit]);
    return this.auditEntries.slice(0, limit);
  }

  subscribeEvents(listener: ClusterEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  metricsRegistry(): Registry {
    return this.registry;
  }

  health(): Probe {
    return this.healthProbe;
  }

  ready(): Probe {
    return this.readyProbe;
  }

  leaderApi(): LeaderApi | null {
    return this.leader;
  }
}
