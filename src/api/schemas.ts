/**
 * TypeBox schemas of every request and response body of the HTTP API. They
 * are the source of truth: requests are validated against them, responses are
 * serialised by them (so a field not declared here never leaves the node), the
 * OpenAPI document is generated from them, and the TypeScript types of the
 * ClusterService seam are `Static<>` of them.
 *
 * Response-only enums are `StringEnum` (a plain string with `enum`), because
 * the serialiser should not refuse a value it does not know; request enums are
 * unions of literals, which the validator checks.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** An object the API passes through unchanged (the cluster validates it). */
function OpaqueObject(description: string) {
  return Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true, description }));
}

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
export const NodeIdSchema = Type.String({
  pattern: NAME_PATTERN,
  patternMessage: 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
  description: 'node id',
});
const HostPortSchema = Type.String({ minLength: 3, maxLength: 300, description: 'host:port' });
const Revision = Type.Integer({ minimum: 0, description: 'revision of the replicated value; grows by one per change' });
const LogIndex = Type.Integer({ minimum: 0 });
const Timestamp = Type.String({ format: 'date-time' });

// ---------------------------------------------------------------------------
// Errors

export const ErrorSchema = Type.Object(
  {
    code: Type.String({ description: 'stable error code, see docs/api.md' }),
    message: Type.String({ description: 'one sentence naming the field or object and the problem' }),
  },
  { description: 'every error, on every route' },
);

// ---------------------------------------------------------------------------
// Status (the shape is fixed by MISSION.md: fields may be added, never renamed)

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const ConditionSchema = Type.Object({
  code: Type.String(),
  severity: StringEnum(SEVERITIES),
  message: Type.String({ description: 'a sentence an operator can act on' }),
  node: Type.Optional(Nullable(Type.String({ description: 'the member it concerns, if any' }))),
  since: Type.Optional(Timestamp),
});

export const ActiveSchema = Type.Object({
  node: Type.String(),
  epoch: Type.Integer({ minimum: 0, description: 'fencing token: grows with every grant of the active role' }),
  since: Timestamp,
  reason: Type.String({ description: 'why this node holds the role: bootstrap, failover, failback, switchover...' }),
});

export const MemberStatusSchema = Type.Object({
  id: Type.String(),
  kind: StringEnum(['data', 'witness']),
  role: StringEnum(['active', 'standby', 'witness', 'none']),
  reachable: Type.Boolean(),
  health: StringEnum(['healthy', 'degraded', 'failed', 'unknown']),
  version: Nullable(Type.String({ description: 'software version; null if never heard from' })),
  appliedIndex: LogIndex,
  maintenance: Type.Boolean(),
  voter: Type.Optional(Type.Boolean()),
  lastContactMs: Type.Optional(Nullable(Type.Integer({ minimum: 0, description: 'ms since the answering node heard from it' }))),
  peer: Type.Optional(Type.String()),
  api: Type.Optional(Nullable(Type.String())),
  monitors: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), state: StringEnum(['up', 'down', 'unknown']) }), {
      description: 'each monitor as the member last reported it (empty while it is unreachable); monitors `of` another node included',
    }),
  ),
});

export const ReadInfoSchema = Type.Object(
  {
    linearizable: Type.Boolean({ description: 'true when the read went through ReadIndex (?linearizable=true)' }),
    appliedIndex: LogIndex,
    leaderContactMs: Nullable(
      Type.Integer({ minimum: 0, description: 'ms since the answering node last heard from a leader; 0 on the leader' }),
    ),
  },
  { description: 'how fresh this read is' },
);

export const StatusSchema = Type.Object({
  node: Type.String({ description: 'the node that answered' }),
  cluster: Type.String(),
  leader: Nullable(Type.String()),
  term: Type.Integer({ minimum: 0 }),
  active: Nullable(ActiveSchema),
  members: Type.Array(MemberStatusSchema),
  configRevision: Revision,
  policyRevision: Type.Optional(Revision),
  commitIndex: Type.Optional(LogIndex),
  mode: Type.Optional(StringEnum(['witness', 'two-node', 'single'])),
  conditions: Type.Array(ConditionSchema),
  read: ReadInfoSchema,
});

// ---------------------------------------------------------------------------
// This node (GET /v1/node): what `hapair join` and the setup check read from each node

export const VipCheckSchema = Type.Object({
  address: Type.String(),
  interface: Type.String({ description: 'the logical interface the VIP names in the settings' }),
  device: Nullable(Type.String({ description: "this node's device for it (network.interfaces), null if not mapped" })),
  problem: Nullable(Type.String({ description: 'why this node could not hold the VIP, null when it can' })),
});

export const SetupCheckSchema = Type.Object(
  {
    ok: Type.Boolean({ description: 'true when problems is empty' }),
    problems: Type.Array(Type.String(), { description: 'one sentence each, naming this node' }),
    vips: Type.Array(VipCheckSchema, { description: 'each VIP of the applied settings (data nodes; empty on a witness)' }),
  },
  { description: "this node's setup check (R7): its VIPs' interfaces map to devices its network driver can manage" },
);

export const NodeInfoSchema = Type.Object({
  node: Type.String(),
  kind: StringEnum(['data', 'witness']),
  cluster: Type.String(),
  version: Type.String({ description: 'software version of this node' }),
  peer: Type.String({ description: 'the peer address other nodes reach this node at (peer.advertise or peer.listen)' }),
  api: Type.String({ description: 'this API (api.advertise or api.listen)' }),
  membership: StringEnum(['voter', 'learner', 'none'], { description: "this node's place in the committed Raft membership it knows" }),
  join: Type.Array(Type.Object({ id: Type.String(), peer: Type.String() }), { description: 'cluster.join of the node config (empty when absent)' }),
  leader: Nullable(Type.String()),
  appliedIndex: LogIndex,
  configRevision: Revision,
  settingsSha256: Type.String({ description: 'SHA-256 of the canonical JSON of the applied settings: equal on nodes holding the same settings' }),
  policyRevision: Revision,
  policySha256: Type.String({ description: 'SHA-256 of the applied policy ruleset' }),
  appliedPolicyRevision: Revision,
  driver: Type.String({ description: 'network driver: linux or sim' }),
  interfaces: Type.Record(Type.String(), Type.String(), { description: 'network.interfaces of the node config' }),
  raft: Type.Object({
    tickMs: Type.Integer({ minimum: 1 }),
    electionTicks: Type.Integer({ minimum: 1 }),
    heartbeatTicks: Type.Integer({ minimum: 1 }),
    voteRefusalTicks: Type.Integer({ minimum: 1 }),
    snapshotIndex: Type.Integer({ minimum: 0, description: 'the log is compacted up to here (a node joining later gets a snapshot)' }),
  }),
  check: SetupCheckSchema,
});

// ---------------------------------------------------------------------------
// Config and policy

export const ConfigViewSchema = Type.Object({
  revision: Revision,
  settings: OpaqueObject('the cluster settings, every key present (defaults filled in)'),
  updatedAt: Type.Optional(Nullable(Timestamp)),
  updatedBy: Type.Optional(Nullable(Type.String())),
  read: Type.Optional(ReadInfoSchema),
});
export const SettingsBodySchema = OpaqueObject('cluster settings (docs/api.md); validated by the cluster: CONFIG_INVALID');

export const PolicyViewSchema = Type.Object({
  revision: Revision,
  policy: OpaqueObject('the security policy'),
  updatedAt: Type.Optional(Nullable(Timestamp)),
  updatedBy: Type.Optional(Nullable(Type.String())),
  read: Type.Optional(ReadInfoSchema),
});
export const PolicyBodySchema = OpaqueObject('security policy; validated by the cluster: POLICY_INVALID');

export const IfMatchHeadersSchema = Type.Object(
  {
    'if-match': Type.Optional(
      Type.String({
        pattern: '^(\\*|(W/)?"?[0-9]{1,15}"?)$',
        patternMessage: 'must be a revision number such as 9 (or "9", or *)',
        description: 'compare-and-set: the revision this change is based on',
      }),
    ),
  },
  { additionalProperties: true },
);

export const ReadQuerySchema = Type.Object(
  { linearizable: Type.Optional(Type.Boolean({ description: 'read through ReadIndex (a round to a quorum)' })) },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Role and members

export const SwitchoverBodySchema = Type.Object(
  {
    to: Type.Optional(NodeIdSchema),
    force: Type.Optional(Type.Boolean({ description: 'skip the health checks on the target (never the quorum)' })),
  },
  { additionalProperties: false },
);
export const SwitchoverResultSchema = Type.Object({
  active: ActiveSchema,
  previous: Nullable(Type.String()),
  durationMs: Type.Integer({ minimum: 0 }),
});

export const MemberParamsSchema = Type.Object({ id: NodeIdSchema }, { additionalProperties: false });
export const MaintenanceBodySchema = Type.Object({ on: Type.Boolean() }, { additionalProperties: false });
export const MaintenanceResultSchema = Type.Object({ id: Type.String(), maintenance: Type.Boolean() });

export const JoinBodySchema = Type.Object(
  {
    id: NodeIdSchema,
    kind: Type.Union([Type.Literal('data'), Type.Literal('witness')]),
    peer: HostPortSchema,
    api: HostPortSchema,
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'software version of the new node' })),
  },
  { additionalProperties: false },
);
export const MemberRefSchema = Type.Object({
  id: Type.String(),
  kind: StringEnum(['data', 'witness']),
  peer: Type.String(),
  api: Nullable(Type.String()),
  voter: Type.Boolean(),
});
export const MembershipResultSchema = Type.Object({ members: Type.Array(MemberRefSchema) });

// ---------------------------------------------------------------------------
// Backups

export const BackupIdParamsSchema = Type.Object(
  { id: Type.String({ pattern: NAME_PATTERN, patternMessage: 'must be a backup id as listed by GET /v1/backups' }) },
  { additionalProperties: false },
);
export const BackupInfoSchema = Type.Object({
  id: Type.String(),
  createdAt: Timestamp,
  createdBy: Type.String(),
  comment: Type.String(),
  configRevision: Revision,
  policyRevision: Type.Optional(Revision),
  index: Type.Optional(LogIndex),
  version: Type.Optional(Type.String({ description: 'software version that wrote it' })),
  sizeBytes: Type.Integer({ minimum: 0 }),
  sha256: Type.Optional(Type.String()),
});
export const BackupListSchema = Type.Object({ backups: Type.Array(BackupInfoSchema) });
export const CreateBackupBodySchema = Type.Object(
  { comment: Type.Optional(Type.String({ maxLength: 1024 })) },
  { additionalProperties: false },
);
export const RestoreResultSchema = Type.Object({
  restored: Type.String(),
  configRevision: Revision,
  policyRevision: Type.Optional(Revision),
});
export const BinarySchema = Type.String({ format: 'binary', description: 'a hapair backup file' });

// ---------------------------------------------------------------------------
// Audit

export const AuditQuerySchema = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'newest entries, default 100' })) },
  { additionalProperties: false },
);
export const AuditEntrySchema = Type.Object({
  index: LogIndex,
  at: Timestamp,
  actor: Type.String({ description: 'token name, or the node for automatic actions' }),
  action: Type.String(),
  detail: Type.String(),
  outcome: Type.Optional(Type.String()),
});
export const AuditListSchema = Type.Object({ entries: Type.Array(AuditEntrySchema) });

// ---------------------------------------------------------------------------
// Operator notes

export const NoteBodySchema = Type.Object(
  { text: Type.String({ minLength: 1, maxLength: 1024, description: 'one line for the audit trail, e.g. "replaced the cable on fw2"' }) },
  { additionalProperties: false },
);
export const NotesViewSchema = Type.Object({
  count: Type.Integer({ minimum: 0, description: 'notes committed since the cluster was created' }),
  xor: Type.String({ description: 'XOR of the SHA-256 of every note text (hex): equal on every replica that holds the same notes' }),
  recent: Type.Array(
    Type.Object({ index: LogIndex, at: Timestamp, by: Type.String(), text: Type.String() }),
    { description: 'the newest notes still in the audit trail, newest first' },
  ),
});
export type NotesView = Static<typeof NotesViewSchema>;

// ---------------------------------------------------------------------------
// Probes

export const ProbeOkSchema = Type.Object({ status: Type.String(), detail: Type.Optional(Type.String()) });

// ---------------------------------------------------------------------------

export type StatusView = Static<typeof StatusSchema>;
export type MemberStatus = Static<typeof MemberStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type ActiveView = Static<typeof ActiveSchema>;
export type ReadInfo = Static<typeof ReadInfoSchema>;
export type ConfigView = Static<typeof ConfigViewSchema>;
export type PolicyView = Static<typeof PolicyViewSchema>;
export type SwitchoverRequest = Static<typeof SwitchoverBodySchema>;
export type SwitchoverResult = Static<typeof SwitchoverResultSchema>;
export type MaintenanceResult = Static<typeof MaintenanceResultSchema>;
export type JoinRequest = Static<typeof JoinBodySchema>;
export type NodeInfo = Static<typeof NodeInfoSchema>;
export type SetupCheck = Static<typeof SetupCheckSchema>;
export type MemberRef = Static<typeof MemberRefSchema>;
export type MembershipResult = Static<typeof MembershipResultSchema>;
export type BackupInfo = Static<typeof BackupInfoSchema>;
export type BackupList = Static<typeof BackupListSchema>;
export type RestoreResult = Static<typeof RestoreResultSchema>;
export type AuditEntry = Static<typeof AuditEntrySchema>;
export type AuditList = Static<typeof AuditListSchema>;
