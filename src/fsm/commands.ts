/**
 * The commands a Raft entry carries (as msgpack bytes in `payload.data`).
 *
 * Every command names its schema version `v`. A node refuses a command whose
 * type it does not know or whose version is newer than it supports: the
 * refusal is deterministic and recorded as the state's last apply error, so an
 * old node never misapplies what a newer one wrote (R11: update the standby
 * first, and do not write while versions differ).
 *
 * Commands carry their own time (`at`, ISO 8601 from the proposer's clock) and
 * principal, so apply never reads a clock.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Packr } from 'msgpackr';
import type { MemberKind } from '../raft/types.js';
import { assert } from '../util/assert.js';

/**
 * The newest version of each command type this build applies. It writes
 * version 1 unless a command means what only a later version added, so
 * that a node of an older build applies it alike rather than stop at it:
 *
 * - grantLease 2: a `fence-lapsed` grant to the holder is applied while the
 *   holder is in maintenance (version 1 refuses it, NOT_ELIGIBLE).
 */
export const COMMAND_VERSIONS = {
  registerMember: 1,
  reportHealth: 1,
  setSettings: 1,
  setPolicy: 1,
  grantLease: 2,
  moveIntent: 1,
  withdrawIntent: 1,
  setMaintenance: 1,
  createBackup: 1,
  importBackup: 1,
  restoreBackup: 1,
  clearFlapDamping: 1,
  addNote: 1,
} as const;

export type CommandType = keyof typeof COMMAND_VERSIONS;

/** Why a node holds the active role (the lease's reason). */
export const LEASE_REASONS = [
  'bootstrap',
  'failover',
  'failback',
  'switchover',
  'maintenance',
  'resource-failure',
  'forced',
  /** The holder's kernel fence ran out (its renewals were late): it holds the role again under a new epoch. */
  'fence-lapsed',
] as const;
export type LeaseReason = (typeof LEASE_REASONS)[number];

/** Reasons a planned move can carry (a failover and a bootstrap are never planned). */
export const MOVE_REASONS = ['failback', 'switchover', 'maintenance', 'resource-failure', 'forced'] as const;
export type MoveReason = (typeof MOVE_REASONS)[number];

export const HEALTH_STATES = ['healthy', 'degraded', 'failed', 'unknown'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export const MONITOR_STATES = ['up', 'down', 'unknown'] as const;
export type MonitorState = (typeof MONITOR_STATES)[number];

/** Bounds checked on decode: a command is stored in every replica's state. */
export const COMMAND_LIMITS = {
  textChars: 1024,
  rulesetChars: 1_000_000,
  monitors: 64,
  peers: 16,
  /** One per VIP at most (SETTINGS_LIMITS.vips). */
  vipProblems: 32,
} as const;

// ---------------------------------------------------------------------------
// Schemas (decode-time shape checks) and the types derived from them.

/** A union of string literals that keeps its static type (Type.Union over a mapped array would widen to string). */
const literals = <T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v))));
const Id = Type.String({ minLength: 1, maxLength: 63 });
const Text = Type.String({ maxLength: COMMAND_LIMITS.textChars });
const Count = Type.Integer({ minimum: 0 });
const Revision = Type.Union([Count, Type.Null()]);

const base = <T extends CommandType, P extends Record<string, TSchema>>(type: T, fields: P) =>
  Type.Object({
    type: Type.Literal(type),
    v: Type.Integer({ minimum: 1 }),
    at: Type.String({ minLength: 1, maxLength: 64 }),
    principal: Type.String({ minLength: 1, maxLength: 128 }),
    ...fields,
  });

const BackupContentSchema = Type.Object({
  settings: Type.Unknown(),
  policy: Type.Object({ ruleset: Type.String({ maxLength: COMMAND_LIMITS.rulesetChars }), revision: Count }),
  configRevision: Count,
});

/** A backup as it travels in an export file and in importBackup. */
export const BackupFileSchema = Type.Object({
  id: Id,
  cluster: Type.Union([Text, Type.Null()]),
  at: Text,
  author: Text,
  comment: Text,
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  index: Count,
  content: BackupContentSchema,
});

const COMMAND_SCHEMAS = {
  registerMember: base('registerMember', {
    member: Type.Object({
      id: Id,
      kind: literals(['data', 'witness'] as const),
      peer: Text,
      api: Text,
      version: Type.String({ minLength: 1, maxLength: 64 }),
      entitlementPresent: Type.Boolean(),
    }),
  }),
  reportHealth: base('reportHealth', {
    node: Id,
    health: literals(HEALTH_STATES),
    monitors: Type.Array(Type.Object({ name: Id, state: literals(MONITOR_STATES) }), { maxItems: COMMAND_LIMITS.monitors }),
    appliedConfigRevision: Count,
    appliedPolicyRevision: Count,
    /** The last attempt to apply a policy revision on the reporter (the one in force is appliedPolicyRevision). */
    policyApply: Type.Object({ revision: Count, ok: Type.Boolean(), error: Type.Union([Text, Type.Null()]) }),
    /** The reporter's view of each peer: reachable on at least one heartbeat path. */
    peers: Type.Array(Type.Object({ id: Id, reachable: Type.Boolean() }), { maxItems: COMMAND_LIMITS.peers }),
    /**
     * The reporter's check of its VIPs' devices (R7) against settings
     * revision `revision`: why it cannot hold them, empty when it can.
     * Optional, so that reports of builds that do not check stay valid (and
     * nodes of those builds ignore it) while versions differ during an update.
     */
    vipSetup: Type.Optional(
      Type.Object({ revision: Count, problems: Type.Array(Text, { maxItems: COMMAND_LIMITS.vipProblems }) }),
    ),
    /**
     * The reporter failed to take or keep the VIPs not long ago, and has
     * stopped trying (src/node/hold-fault.ts): no planned move goes to it,
     * but it may still take over when the active fails. Since 0.3.0, and
     * written only while every member runs one version.
     */
    holdFault: Type.Optional(Text),
  }),
  setSettings: base('setSettings', { settings: Type.Unknown(), ifRevision: Revision }),
  setPolicy: base('setPolicy', { ruleset: Type.String({ maxLength: COMMAND_LIMITS.rulesetChars }), ifRevision: Revision }),
  grantLease: base('grantLease', {
    holder: Id,
    epoch: Type.Integer({ minimum: 1 }),
    reason: literals(LEASE_REASONS),
    /** Raft term of the proposing leader. */
    term: Count,
  }),
  moveIntent: base('moveIntent', {
    to: Id,
    reason: literals(MOVE_REASONS),
    /** The lease epoch being moved away from: the intent is void once another grant happens. */
    epoch: Count,
  }),
  /**
   * An operator's move that was not carried out in time, withdrawn by the API
   * call that asked for it, so that it does not happen later by surprise.
   * Names the intent by the log index it was committed at.
   */
  withdrawIntent: base('withdrawIntent', { intentIndex: Type.Integer({ minimum: 1 }) }),
  setMaintenance: base('setMaintenance', { node: Id, on: Type.Boolean() }),
  createBackup: base('createBackup', { comment: Text }),
  importBackup: base('importBackup', { backup: BackupFileSchema }),
  restoreBackup: base('restoreBackup', { id: Id, ifRevision: Revision }),
  clearFlapDamping: base('clearFlapDamping', {}),
  /** An operator's note, committed to the audit trail ("replaced the cable on fw2"). */
  addNote: base('addNote', { text: Type.String({ minLength: 1, maxLength: COMMAND_LIMITS.textChars }) }),
} as const;

type Schemas = typeof COMMAND_SCHEMAS;
export type ClusterCommand = { [K in CommandType]: Static<Schemas[K]> }[CommandType];
export type CommandOf<K extends CommandType> = Extract<ClusterCommand, { type: K }>;
export type BackupFile = Static<typeof BackupFileSchema>;
export type BackupContent = Static<typeof BackupContentSchema>;
export type MemberInfo = CommandOf<'registerMember'>['member'];
export type { MemberKind };

/** Builds a command of version `meta.v` (default 1; see COMMAND_VERSIONS). */
export function makeCommand<K extends CommandType>(
  type: K,
  fields: Omit<CommandOf<K>, 'type' | 'v' | 'at' | 'principal'>,
  meta: { readonly at: string; readonly principal: string; readonly v?: number },
): CommandOf<K> {
  const v = meta.v ?? 1;
  assert(Number.isInteger(v) && v >= 1 && v <= COMMAND_VERSIONS[type], `${type} has no version ${v} in this build`);
  return { ...fields, type, v, at: meta.at, principal: meta.principal } as CommandOf<K>;
}

// ---------------------------------------------------------------------------
// Encoding.

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeCommand(command: ClusterCommand): Uint8Array {
  return Uint8Array.from(packr.pack(command));
}

export type DecodeRefusal = {
  readonly ok: false;
  /** UNSUPPORTED_COMMAND: a newer version or an unknown type. MALFORMED_COMMAND: not a command at all. */
  readonly code: 'UNSUPPORTED_COMMAND' | 'MALFORMED_COMMAND';
  readonly message: string;
};
export type DecodeResult = { readonly ok: true; readonly command: ClusterCommand } | DecodeRefusal;

export function decodeCommand(data: Uint8Array): DecodeResult {
  let raw: unknown;
  try {
    // Through a throwaway view: msgpackr caches a DataView on the buffer it
    // reads, and `data` lives in the Raft log (a retained DataView per entry).
    raw = packr.unpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as unknown;
  } catch (cause) {
    return { ok: false, code: 'MALFORMED_COMMAND', message: `not a msgpack command: ${(cause as Error).message}` };
  }
  return checkCommand(raw);
}

/** Shape and version check of a decoded value (also used for commands that arrive as JSON). */
export function checkCommand(raw: unknown): DecodeResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'MALFORMED_COMMAND', message: 'a command must be a map' };
  }
  const { type, v } = raw as { type?: unknown; v?: unknown };
  if (typeof type !== 'string') return { ok: false, code: 'MALFORMED_COMMAND', message: 'command has no type' };
  if (!Object.prototype.hasOwnProperty.call(COMMAND_VERSIONS, type)) {
    return {
      ok: false,
      code: 'UNSUPPORTED_COMMAND',
      message: `unknown command type ${JSON.stringify(type.slice(0, 64))} (written by a newer version?); update this node`,
    };
  }
  const known = type as CommandType;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    return { ok: false, code: 'MALFORMED_COMMAND', message: `${known} command has no valid version` };
  }
  const supported = COMMAND_VERSIONS[known];
  if (v > supported) {
    return {
      ok: false,
      code: 'UNSUPPORTED_COMMAND',
      message: `${known} command version ${v} is newer than this node supports (${supported}); update this node`,
    };
  }
  const schema: TSchema = COMMAND_SCHEMAS[known];
  if (!Value.Check(schema, raw)) {
    const first = Value.Errors(schema, raw).First();
    const where = first === undefined ? '' : ` at ${first.path || '/'}: ${first.message}`;
    return { ok: false, code: 'MALFORMED_COMMAND', message: `malformed ${known} command${where}` };
  }
  return { ok: true, command: raw as ClusterCommand };
}
