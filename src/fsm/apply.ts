/**
 * apply: the deterministic transition of the cluster state by one committed
 * entry. No clock, no randomness, no I/O: two replicas that apply the same
 * entries end with identical state. A command that cannot be accepted
 * (stale revision, stale epoch, ineligible holder, bad checksum) is refused
 * with a typed result, the same way on every replica; the state only records
 * the refusal in the audit trail.
 */
import type { Entry, MembershipChange } from '../raft/types.js';
import { assert, unreachable } from '../util/assert.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { decodeCommand, type ClusterCommand, type CommandOf } from './commands.js';
import { formatSettingsErrors, validateSettings, type ClusterSettings, type SettingsError } from './settings.js';
import {
  STATE_LIMITS,
  findMember,
  versionWriteBlock,
  type AuditRecord,
  type Backup,
  type ClusterState,
  type MemberRecord,
  type RoleMove,
} from './state.js';

export type ApplyResult =
  | {
      readonly ok: true;
      readonly detail: string;
      /** New settings or policy revision, for writes. */
      readonly revision?: number;
      /** The backup created, imported or restored. */
      readonly backupId?: string;
      readonly epoch?: number;
    }
  | ApplyRefusal;

export type ApplyRefusal =
  | { readonly ok: false; readonly code: 'CONFLICT'; readonly currentRevision: number; readonly message: string }
  | { readonly ok: false; readonly code: 'INVALID'; readonly errors: readonly SettingsError[]; readonly message: string }
  | { readonly ok: false; readonly code: 'STALE_EPOCH'; readonly currentEpoch: number; readonly message: string }
  | {
      readonly ok: false;
      readonly code:
        | 'VERSION_MISMATCH'
        | 'NOT_ELIGIBLE'
        | 'NOT_FOUND'
        | 'CHECKSUM_MISMATCH'
        | 'LIMIT'
        | 'UNSUPPORTED_COMMAND'
        | 'MALFORMED_COMMAND';
      readonly message: string;
    };

export interface Applied {
  readonly state: ClusterState;
  readonly result: ApplyResult;
}

/** Applies one committed Raft entry (noop, membership change or command bytes). */
export function applyEntry(state: ClusterState, entry: Entry): Applied {
  const payload = entry.payload;
  switch (payload.type) {
    case 'noop':
      return { state: advance(state, entry.index), result: { ok: true, detail: 'noop' } };
    case 'membership':
      return applyMembership(state, entry.index, payload.change);
    case 'command': {
      const decoded = decodeCommand(payload.data);
      if (!decoded.ok) {
        const next: ClusterState = {
          ...advance(state, entry.index),
          lastApplyError: { index: entry.index, code: decoded.code, message: decoded.message },
        };
        return {
          state: audited(next, { index: entry.index, at: '', principal: 'unknown', command: 'unknown' }, 'refused', `${decoded.code}: ${decoded.message}`),
          result: decoded,
        };
      }
      return apply(state, entry.index, decoded.command);
    }
    default:
      return unreachable(payload);
  }
}

/** Applies a decoded command committed at `index`. */
export function apply(state: ClusterState, index: number, command: ClusterCommand): Applied {
  const s = advance(state, index);
  switch (command.type) {
    case 'registerMember':
      return applyRegisterMember(s, index, command);
    case 'reportHealth':
      return applyReportHealth(s, index, command);
    case 'setSettings':
      return applySetSettings(s, index, command);
    case 'setPolicy':
      return applySetPolicy(s, index, command);
    case 'grantLease':
      return applyGrantLease(s, index, command);
    case 'moveIntent':
      return applyMoveIntent(s, index, command);
    case 'withdrawIntent':
      return applyWithdrawIntent(s, index, command);
    case 'setMaintenance':
      return applySetMaintenance(s, index, command);
    case 'createBackup':
      return applyCreateBackup(s, index, command);
    case 'importBackup':
      return applyImportBackup(s, index, command);
    case 'restoreBackup':
      return applyRestoreBackup(s, index, command);
    case 'addNote':
      return applyAddNote(s, index, command);
    case 'clearFlapDamping':
      return applyClearFlapDamping(s, index, command);
    default:
      return unreachable(command);
  }
}

function advance(state: ClusterState, index: number): ClusterState {
  assert(index > state.appliedIndex, `apply: index ${index} is not after applied index ${state.appliedIndex}`);
  return { ...state, appliedIndex: index };
}

// ---------------------------------------------------------------------------
// Commands.

function applyRegisterMember(s: ClusterState, index: number, c: CommandOf<'registerMember'>): Applied {
  const m = c.member;
  const existing = findMember(s, m.id);
  if (existing === undefined && s.members.length >= STATE_LIMITS.members) {
    return refuse(s, index, c, { ok: false, code: 'LIMIT', message: `the cluster already has ${STATE_LIMITS.members} members` });
  }
  if (existing !== undefined && existing.kind !== m.kind) {
    return refuse(s, index, c, {
      ok: false,
      code: 'NOT_ELIGIBLE',
      message: `${m.id} is registered as ${existing.kind}; it cannot re-register as ${m.kind} (remove it first)`,
    });
  }
  const record: MemberRecord = {
    id: m.id,
    kind: m.kind,
    peer: m.peer,
    api: m.api,
    version: m.version,
    entitlementPresent: m.entitlementPresent,
    maintenance: existing?.maintenance ?? false,
    registeredAt: existing?.registeredAt ?? c.at,
    health: existing?.health ?? null,
  };
  const changes = existing === undefined ? [] : describeMemberChanges(existing, record);
  if (existing !== undefined && changes.length === 0) return { state: s, result: { ok: true, detail: 'unchanged' } };
  const detail =
    existing === undefined
      ? `registered ${m.id} (${m.kind}, version ${m.version}, entitlement ${m.entitlementPresent ? 'present' : 'missing'})`
      : `${m.id}: ${changes.join(', ')}`;
  const next = { ...s, members: upsertMember(s.members, record) };
  return ok(next, index, c, { ok: true, detail });
}

function describeMemberChanges(a: MemberRecord, b: MemberRecord): string[] {
  const out: string[] = [];
  if (a.version !== b.version) out.push(`version ${a.version} -> ${b.version}`);
  if (a.peer !== b.peer) out.push(`peer ${a.peer} -> ${b.peer}`);
  if (a.api !== b.api) out.push(`api ${a.api} -> ${b.api}`);
  if (a.entitlementPresent !== b.entitlementPresent) {
    out.push(`entitlement ${b.entitlementPresent ? 'present' : 'missing'}`);
  }
  return out;
}

function applyReportHealth(s: ClusterState, index: number, c: CommandOf<'reportHealth'>): Applied {
  const member = findMember(s, c.node);
  if (member === undefined) {
    return refuse(s, index, c, { ok: false, code: 'NOT_FOUND', message: `no member named ${c.node}` });
  }
  const previous = member.health;
  const record: MemberRecord = {
    ...member,
    health: {
      at: c.at,
      index,
      health: c.health,
      monitors: [...c.monitors].sort((a, b) => compareText(a.name, b.name)),
      appliedConfigRevision: c.appliedConfigRevision,
      appliedPolicyRevision: c.appliedPolicyRevision,
      policyApply: { revision: c.policyApply.revision, ok: c.policyApply.ok, error: c.policyApply.ok ? null : c.policyApply.error },
      peers: [...c.peers].sort((a, b) => compareText(a.id, b.id)),
      ...(c.vipSetup === undefined ? {} : { vipSetup: { revision: c.vipSetup.revision, problems: [...c.vipSetup.problems] } }),
      ...(c.holdFault === undefined ? {} : { holdFault: c.holdFault }),
    },
  };
  const next = { ...s, members: upsertMember(s.members, record) };
  // Health reports are frequent: only transitions go into the bounded audit ring.
  const healthChanged = previous?.health !== c.health;
  const policyChanged = (previous?.policyApply.ok ?? true) !== c.policyApply.ok;
  const vipProblems = c.vipSetup?.problems ?? [];
  const setupChanged = (previous?.vipSetup?.problems.length ?? 0) > 0 !== vipProblems.length > 0;
  if (!healthChanged && !policyChanged && !setupChanged) return { state: next, result: { ok: true, detail: 'health reported' } };
  const down = c.monitors.filter((m) => m.state === 'down').map((m) => m.name);
  const parts = [`${c.node} health ${previous?.health ?? 'none'} -> ${c.health}`];
  if (down.length > 0) parts.push(`down: ${down.join(', ')}`);
  if (!c.policyApply.ok) parts.push(`policy revision ${c.policyApply.revision} failed: ${c.policyApply.error ?? 'no reason given'}`);
  if (vipProblems.length > 0) parts.push(`cannot hold the VIPs: ${vipProblems.join('; ')}`);
  else if (setupChanged) parts.push('can hold the VIPs again');
  return ok(next, index, c, { ok: true, detail: parts.join('; ') });
}

function applySetSettings(s: ClusterState, index: number, c: CommandOf<'setSettings'>): Applied {
  const blocked = writeBlocked(s, c.ifRevision, s.configRevision, 'settings');
  if (blocked !== null) return refuse(s, index, c, blocked);
  const validated = validateSettings(c.settings, { members: s.members });
  if (!validated.ok) return refuse(s, index, c, invalid(validated.errors));
  const revision = s.configRevision + 1;
  const changed = describeSettingsChanges(s.settings, validated.settings);
  const next = { ...s, settings: validated.settings, configRevision: revision };
  return ok(next, index, c, {
    ok: true,
    revision,
    detail: `settings revision ${s.configRevision} -> ${revision}: ${changed.length === 0 ? 'no change' : changed.join(', ')}`,
  });
}

function applySetPolicy(s: ClusterState, index: number, c: CommandOf<'setPolicy'>): Applied {
  const blocked = writeBlocked(s, c.ifRevision, s.policy.revision, 'policy');
  if (blocked !== null) return refuse(s, index, c, blocked);
  const revision = s.policy.revision + 1;
  const next = { ...s, policy: { ruleset: c.ruleset, revision } };
  return ok(next, index, c, {
    ok: true,
    revision,
    detail: `policy revision ${s.policy.revision} -> ${revision} (${c.ruleset.length} chars, sha256 ${sha256Hex(c.ruleset).slice(0, 12)})`,
  });
}

function applyGrantLease(s: ClusterState, index: number, c: CommandOf<'grantLease'>): Applied {
  const currentEpoch = s.lease?.epoch ?? 0;
  if (c.epoch !== currentEpoch + 1) {
    return refuse(s, index, c, {
      ok: false,
      code: 'STALE_EPOCH',
      currentEpoch,
      message: `grant of epoch ${c.epoch} refused: the current epoch is ${currentEpoch}, so the next grant must be ${currentEpoch + 1}`,
    });
  }
  const holder = findMember(s, c.holder);
  // From version 2: the holder taking a new epoch after its fence lapsed keeps the role it had,
  // in maintenance too (it keeps it there when no node can take it, and must be able to hold it).
  // Not while versions differ: an older build refuses the command, and this one must refuse it too.
  const keeps = c.v >= 2 && c.reason === 'fence-lapsed' && s.lease?.holder === c.holder && versionWriteBlock(s) === null;
  const problem =
    holder === undefined
      ? `${c.holder} is not a member`
      : holder.kind !== 'data'
        ? `${c.holder} is a witness and never holds the active role`
        : holder.maintenance && !keeps
          ? `${c.holder} is in maintenance`
          : null;
  if (problem !== null) return refuse(s, index, c, { ok: false, code: 'NOT_ELIGIBLE', message: `grant refused: ${problem}` });

  const from = s.lease?.holder ?? null;
  const move: RoleMove = { epoch: c.epoch, from, to: c.holder, reason: c.reason, at: c.at, index };
  // A new epoch for the same holder is not a move: it must not count toward flap damping.
  const moves = from === c.holder ? s.moves : appendBounded(s.moves, move, STATE_LIMITS.moves);
  const next: ClusterState = {
    ...s,
    lease: { holder: c.holder, epoch: c.epoch, since: c.at, reason: c.reason, index, term: c.term },
    intent: null,
    moves,
    flapDamped: s.flapDamped ?? flapCheck(s, moves, c.at, index),
  };
  const damped = s.flapDamped === null && next.flapDamped !== null ? '; flap damping engaged' : '';
  return ok(next, index, c, {
    ok: true,
    epoch: c.epoch,
    detail: `lease epoch ${c.epoch} to ${c.holder} (${c.reason}${from === null ? '' : `, from ${from}`})${damped}`,
  });
}

/** Counts real moves (holder changed) inside the window, after the last operator clear. */
/** Only automatic moves can loop; an operator's switchover or maintenance is not flapping. */
const AUTOMATIC_MOVES: ReadonlySet<string> = new Set(['failover', 'failback', 'resource-failure']);

function flapCheck(s: ClusterState, moves: readonly RoleMove[], at: string, index: number): ClusterState['flapDamped'] {
  const nowMs = Date.parse(at);
  const sinceMs = nowMs - s.settings.flapDamping.windowMs;
  const inWindow = moves.filter(
    (m) => m.from !== null && m.from !== m.to && AUTOMATIC_MOVES.has(m.reason) && m.index > s.flapClearedIndex && Date.parse(m.at) >= sinceMs,
  ).length;
  return inWindow > s.settings.flapDamping.maxMoves ? { since: at, moves: inWindow, index } : null;
}

function applyMoveIntent(s: ClusterState, index: number, c: CommandOf<'moveIntent'>): Applied {
  const lease = s.lease;
  if (lease === null || lease.epoch !== c.epoch) {
    return refuse(s, index, c, {
      ok: false,
      code: 'STALE_EPOCH',
      currentEpoch: lease?.epoch ?? 0,
      message: `move intent for epoch ${c.epoch} refused: the current epoch is ${lease?.epoch ?? 0}`,
    });
  }
  const target = findMember(s, c.to);
  const problem =
    target === undefined
      ? `${c.to} is not a member`
      : target.kind !== 'data'
        ? `${c.to} is a witness and never holds the active role`
        : target.maintenance
          ? `${c.to} is in maintenance`
          : lease.holder === c.to
            ? `${c.to} already holds the active role`
            : null;
  if (problem !== null) return refuse(s, index, c, { ok: false, code: 'NOT_ELIGIBLE', message: `move refused: ${problem}` });
  const next: ClusterState = {
    ...s,
    intent: { to: c.to, reason: c.reason, epoch: c.epoch, principal: c.principal, at: c.at, index },
  };
  return ok(next, index, c, { ok: true, detail: `move intent: ${lease.holder} -> ${c.to} (${c.reason})` });
}

/**
 * Refused while members run different versions: an older build cannot apply
 * it, and would go on carrying out the move its copy of the state still has.
 */
function applyWithdrawIntent(s: ClusterState, index: number, c: CommandOf<'withdrawIntent'>): Applied {
  if (versionWriteBlock(s) !== null) {
    const message = 'members run different software versions: a move is withdrawn only while every node runs the same version';
    return refuse(s, index, c, { ok: false, code: 'VERSION_MISMATCH', message });
  }
  const intent = s.intent;
  if (intent === null || intent.index !== c.intentIndex) {
    return refuse(s, index, c, {
      ok: false,
      code: 'NOT_FOUND',
      message: `no move asked for at log index ${c.intentIndex} is waiting: it was carried out or replaced`,
    });
  }
  const next: ClusterState = { ...s, intent: null };
  const from = s.lease?.holder ?? 'nobody';
  // The switchover API finds its own withdrawal by this detail's ending (withdraw-move.ts, withdrawnBy).
  return ok(next, index, c, { ok: true, detail: `move intent withdrawn: ${from} -> ${intent.to} (${intent.reason}, asked for at index ${intent.index})` });
}

function applySetMaintenance(s: ClusterState, index: number, c: CommandOf<'setMaintenance'>): Applied {
  const member = findMember(s, c.node);
  if (member === undefined) return refuse(s, index, c, { ok: false, code: 'NOT_FOUND', message: `no member named ${c.node}` });
  if (member.maintenance === c.on) return { state: s, result: { ok: true, detail: 'unchanged' } };
  const next = { ...s, members: upsertMember(s.members, { ...member, maintenance: c.on }) };
  return ok(next, index, c, { ok: true, detail: `${c.node} maintenance ${c.on ? 'on' : 'off'}` });
}

function applyCreateBackup(s: ClusterState, index: number, c: CommandOf<'createBackup'>): Applied {
  const content = { settings: s.settings, policy: s.policy, configRevision: s.configRevision };
  const backup: Backup = {
    id: backupId(index),
    at: c.at,
    author: c.principal,
    comment: c.comment,
    sha256: sha256Hex(canonicalJson(content)),
    index,
    origin: null,
    content,
  };
  const next = { ...s, backups: appendBounded(s.backups, backup, STATE_LIMITS.backups) };
  return ok(next, index, c, {
    ok: true,
    backupId: backup.id,
    detail: `backup ${backup.id} of settings revision ${s.configRevision}, policy revision ${s.policy.revision}`,
  });
}

function applyImportBackup(s: ClusterState, index: number, c: CommandOf<'importBackup'>): Applied {
  const file = c.backup;
  const actual = sha256Hex(canonicalJson(file.content));
  if (actual !== file.sha256) {
    return refuse(s, index, c, {
      ok: false,
      code: 'CHECKSUM_MISMATCH',
      message: `backup ${file.id}: content does not match its checksum (file says ${file.sha256}, content is ${actual})`,
    });
  }
  const validated = validateSettings(file.content.settings);
  if (!validated.ok) return refuse(s, index, c, invalid(validated.errors, `backup ${file.id} settings: `));
  const content = { settings: validated.settings, policy: file.content.policy, configRevision: file.content.configRevision };
  const backup: Backup = {
    id: backupId(index),
    at: file.at,
    author: file.author,
    comment: file.comment,
    sha256: sha256Hex(canonicalJson(content)),
    index,
    origin: { cluster: file.cluster, id: file.id, index: file.index },
    content,
  };
  const next = { ...s, backups: appendBounded(s.backups, backup, STATE_LIMITS.backups) };
  const source = file.cluster === null ? file.id : `${file.cluster}/${file.id}`;
  return ok(next, index, c, { ok: true, backupId: backup.id, detail: `imported backup ${source} as ${backup.id}` });
}

function applyRestoreBackup(s: ClusterState, index: number, c: CommandOf<'restoreBackup'>): Applied {
  const blocked = writeBlocked(s, c.ifRevision, s.configRevision, 'settings');
  if (blocked !== null) return refuse(s, index, c, blocked);
  const backup = s.backups.find((b) => b.id === c.id);
  if (backup === undefined) return refuse(s, index, c, { ok: false, code: 'NOT_FOUND', message: `no backup named ${c.id}` });
  // Checked again against today's members: a backup from another cluster may name a preferred node we lack.
  const validated = validateSettings(backup.content.settings, { members: s.members });
  if (!validated.ok) return refuse(s, index, c, invalid(validated.errors, `backup ${c.id} settings: `));
  const revision = s.configRevision + 1;
  const policyRevision = s.policy.revision + 1;
  const next: ClusterState = {
    ...s,
    settings: validated.settings,
    configRevision: revision,
    policy: { ruleset: backup.content.policy.ruleset, revision: policyRevision },
  };
  return ok(next, index, c, {
    ok: true,
    revision,
    backupId: c.id,
    detail: `restored backup ${c.id}: settings revision ${revision}, policy revision ${policyRevision}`,
  });
}

function applyClearFlapDamping(s: ClusterState, index: number, c: CommandOf<'clearFlapDamping'>): Applied {
  const next: ClusterState = { ...s, flapDamped: null, flapClearedIndex: index };
  return ok(next, index, c, { ok: true, detail: s.flapDamped === null ? 'flap damping was not engaged' : 'flap damping cleared' });
}

function applyAddNote(s: ClusterState, index: number, c: CommandOf<'addNote'>): Applied {
  const digest = Buffer.from(sha256Hex(c.text), 'hex');
  const xor = Buffer.from(s.notes.xor, 'hex');
  for (let i = 0; i < xor.length; i++) xor[i] = (xor[i] ?? 0) ^ (digest[i] ?? 0);
  const next: ClusterState = { ...s, notes: { count: s.notes.count + 1, xor: xor.toString('hex') } };
  return ok(next, index, c, { ok: true, detail: `note: ${c.text}` });
}

function applyMembership(state: ClusterState, index: number, change: MembershipChange): Applied {
  const s = advance(state, index);
  switch (change.op) {
    case 'addLearner':
    case 'promote':
      // The member's record comes with its registerMember command.
      return { state: s, result: { ok: true, detail: `membership ${change.op}` } };
    case 'remove': {
      if (findMember(s, change.id) === undefined) return { state: s, result: { ok: true, detail: 'membership remove' } };
      const next = { ...s, members: s.members.filter((m) => m.id !== change.id) };
      const meta = { index, at: '', principal: 'raft', command: 'membership' };
      return { state: audited(next, meta, 'applied', `removed ${change.id}`), result: { ok: true, detail: `removed ${change.id}` } };
    }
    default:
      return unreachable(change);
  }
}

// ---------------------------------------------------------------------------
// Helpers.

export function backupId(index: number): string {
  return `b${index}`;
}

function writeBlocked(
  s: ClusterState,
  ifRevision: number | null,
  currentRevision: number,
  what: 'settings' | 'policy',
): ApplyRefusal | null {
  const versions = versionWriteBlock(s);
  if (versions !== null) return { ok: false, code: 'VERSION_MISMATCH', message: versions };
  if (ifRevision !== null && ifRevision !== currentRevision) {
    return {
      ok: false,
      code: 'CONFLICT',
      currentRevision,
      message: `${what} changed since revision ${ifRevision}: the current revision is ${currentRevision}; read it again and retry`,
    };
  }
  return null;
}

function invalid(errors: readonly SettingsError[], prefix = ''): ApplyRefusal {
  return { ok: false, code: 'INVALID', errors, message: `${prefix}${formatSettingsErrors(errors)}` };
}

function upsertMember(members: readonly MemberRecord[], record: MemberRecord): MemberRecord[] {
  return [...members.filter((m) => m.id !== record.id), record].sort((a, b) => compareText(a.id, b.id));
}

/** `list` with `item` appended, keeping the newest `limit` (one copy: the audit trail grows by an entry per command). */
function appendBounded<T>(list: readonly T[], item: T, limit: number): T[] {
  const kept = list.slice(Math.max(0, list.length + 1 - limit));
  kept.push(item);
  return kept;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface AuditMeta {
  readonly index: number;
  readonly at: string;
  readonly principal: string;
  readonly command: string;
}

function audited(s: ClusterState, meta: AuditMeta, outcome: AuditRecord['outcome'], detail: string): ClusterState {
  const record: AuditRecord = { ...meta, outcome, detail: detail.length > 500 ? `${detail.slice(0, 497)}...` : detail };
  return { ...s, audit: appendBounded(s.audit, record, STATE_LIMITS.audit) };
}

function metaOf(index: number, c: ClusterCommand): AuditMeta {
  return { index, at: c.at, principal: c.principal, command: c.type };
}

function ok(s: ClusterState, index: number, c: ClusterCommand, result: ApplyResult & { ok: true }): Applied {
  return { state: audited(s, metaOf(index, c), 'applied', result.detail), result };
}

function refuse(s: ClusterState, index: number, c: ClusterCommand, result: ApplyRefusal): Applied {
  return { state: audited(s, metaOf(index, c), 'refused', `${result.code}: ${result.message}`), result };
}

/** Top-level keys that differ, with old -> new for scalars (an audit line, not a full diff). */
export function describeSettingsChanges(a: ClusterSettings, b: ClusterSettings): string[] {
  const out: string[] = [];
  const keys = Object.keys(b) as (keyof ClusterSettings)[];
  for (const key of keys) {
    const before = a[key];
    const after = b[key];
    if (canonicalJson(before) === canonicalJson(after)) continue;
    if (Array.isArray(after)) {
      out.push(`${key} (${(before as readonly unknown[]).length} -> ${after.length} items)`);
    } else if (typeof after === 'object' && after !== null) {
      for (const sub of Object.keys(after)) {
        const x = (before as Record<string, unknown>)[sub];
        const y = (after as Record<string, unknown>)[sub];
        if (x !== y) out.push(`${key}.${sub} ${JSON.stringify(x)} -> ${JSON.stringify(y)}`);
      }
    } else {
      out.push(`${key} ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
  }
  return out;
}
