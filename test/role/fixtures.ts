/**
 * A small world for decision-table cases: three members (fw1, fw2 data; wit
 * witness) built through real commands, this node's Raft view and its local
 * observations. Every knob has a default describing the healthy steady
 * state: fw1 active (epoch 3) and Raft leader, fw2 a ready standby.
 */
import { makeCommand, type HealthState, type LeaseReason, type MoveReason } from '../../src/fsm/commands.js';
import type { ClusterState } from '../../src/fsm/state.js';
import type { NodeId } from '../../src/raft/types.js';
import { initialRoleMemory } from '../../src/role/decide.js';
import type { RoleConfig, RoleInput, RoleMemory } from '../../src/role/types.js';
import { GOOD_SETTINGS, Log, at, register } from '../fsm/fixtures.js';

export const CONFIG: RoleConfig = {
  tickMs: 100,
  heartbeatTicks: 1,
  electionTicks: 10,
  driftMarginTicks: 1,
  holdDownTicks: 50,
  bootstrapGraceTicks: 20,
  retryTicks: 20,
  maxLagEntries: 64,
  standbyFirstTicks: 100,
  policyRetryTicks: 100,
};

export interface MemberSpec {
  id: NodeId;
  kind?: 'data' | 'witness';
  version?: string;
  entitlement?: boolean;
  maintenance?: boolean;
  /** Last reported health; null: never reported. */
  health?: HealthState | null;
  monitor?: 'up' | 'down' | 'unknown';
  /** Reported view of peers, e.g. { fw1: false } = cannot reach fw1. */
  sees?: Record<string, boolean>;
  /** States of further reported monitors, e.g. { 'sees-fw1': 'down' } (monitors `of` another node). */
  watches?: Record<string, 'up' | 'down' | 'unknown'>;
  appliedPolicyRevision?: number;
  policyFailed?: string | null;
  /** Reported problems of its VIP device check (default none). */
  vipProblems?: string[];
  /** Whether that check is for the current settings (default), an older revision, or absent from the report (an older build). */
  vipSetup?: 'current' | 'stale' | 'absent';
  /** A reported failure to hold the VIPs that is over now (HoldFault's past). */
  holdFault?: string;
}

export interface World {
  self: NodeId;
  members: MemberSpec[];
  /** Settings overrides on top of GOOD_SETTINGS (preferred fw1, auto failback). */
  settings: Record<string, unknown>;
  policyRevisions: number;
  lease: { holder: NodeId; epoch: number; reason?: LeaseReason } | null;
  intent: { to: NodeId; reason: MoveReason } | null;
  flapDamped: boolean;
  /** A committed entry this node could not apply, by the reason it gave. */
  applyError: 'UNSUPPORTED_COMMAND' | 'MALFORMED_COMMAND' | null;
  raft: {
    role: 'leader' | 'follower' | 'candidate';
    leader: NodeId | null;
    term: number;
    appliedTerm: number;
    leaseRemainingTicks: number;
    /** A TimeoutNow went out in this term (the lease stays 0 until it ends). */
    leaseVoid: boolean;
    /** A leader whose noop is not applied: entries of earlier terms before its noop it has not applied yet. */
    priorUnapplied: number;
    ticksSinceLeaderContact: number;
    /** Entries committed but not applied here. */
    lag: number;
    /** Added to commit and applied alike (a long log), so match values can lag behind. */
    indexOffset: number;
    match: Record<NodeId, number>;
    /** Leader: ticks since each peer answered; default 0. */
    ticksSinceAck: Record<NodeId, number>;
    transferringTo: NodeId | null;
    voters: NodeId[] | null;
  };
  local: {
    health: HealthState;
    monitorReported: boolean;
    configLag: boolean;
    policyApplied: number | null;
    policyFailed: number | null;
    /** When that failure was seen (nowTick); default: just now. */
    policyFailedAt: number | null;
    /** How many attempts in a row failed; default 1. */
    policyFailedAttempts: number;
    holdingVips: boolean;
    /** This node's VIP device check: for the current settings (default), an older revision, or not done yet. */
    vipSetup: 'current' | 'stale' | 'none';
    vipProblems: string[];
    /** Ticks since each peer was last heard (all paths); default 0. */
    silent: Record<NodeId, number>;
    /** Further local monitor observations (monitors `of` another node), after `upstream`. */
    watches: { name: string; reported: boolean; healthy: boolean }[];
  };
  memory: Partial<RoleMemory>;
  nowTick: number;
}

export type Patch = (w: World) => void;

export function defaultWorld(): World {
  return {
    self: 'fw1',
    members: [{ id: 'fw1' }, { id: 'fw2' }, { id: 'wit', kind: 'witness' }],
    settings: {},
    policyRevisions: 0,
    lease: { holder: 'fw1', epoch: 3, reason: 'bootstrap' },
    intent: null,
    flapDamped: false,
    applyError: null,
    raft: {
      role: 'leader',
      leader: 'fw1',
      term: 5,
      appliedTerm: 5,
      leaseRemainingTicks: 8,
      leaseVoid: false,
      priorUnapplied: 0,
      ticksSinceLeaderContact: 0,
      lag: 0,
      indexOffset: 0,
      match: {},
      ticksSinceAck: {},
      transferringTo: null,
      voters: null,
    },
    local: {
      health: 'healthy',
      monitorReported: true,
      configLag: false,
      policyApplied: null,
      policyFailed: null,
      policyFailedAt: null,
      policyFailedAttempts: 1,
      holdingVips: true,
      vipSetup: 'current',
      vipProblems: [],
      silent: {},
      watches: [],
    },
    memory: { announcedEpoch: 3, reachable: ['fw2', 'wit'], leaderSince: { term: 5, tick: 0 } },
    nowTick: 1000,
  };
}

export function buildState(w: World): ClusterState {
  const log = new Log();
  const m = (seconds = 0) => ({ at: at(seconds), principal: 'ops' });
  for (const spec of w.members) {
    log.run(register(spec.id, spec.kind ?? 'data', '0.3.0', spec.entitlement ?? true));
  }
  const result = log.run(makeCommand('setSettings', { settings: { ...GOOD_SETTINGS, ...w.settings }, ifRevision: null }, m()));
  if (!result.ok) throw new Error(`fixture settings refused: ${result.message}`);
  for (let i = 1; i <= w.policyRevisions; i++) {
    log.run(makeCommand('setPolicy', { ruleset: `table inet r${i} {}`, ifRevision: null }, m()));
  }
  // Versions differ only after the writes: while they differ, writes are refused (R11).
  for (const spec of w.members) {
    if (spec.version !== undefined) log.run(register(spec.id, spec.kind ?? 'data', spec.version, spec.entitlement ?? true));
  }
  if (w.lease !== null) {
    for (let epoch = 1; epoch <= w.lease.epoch; epoch++) {
      const r = log.run(makeCommand('grantLease', { holder: w.lease.holder, epoch, reason: w.lease.reason ?? 'bootstrap', term: epoch }, m(epoch)));
      if (!r.ok) throw new Error(`fixture grant refused: ${r.message}`);
    }
  }
  if (w.intent !== null) {
    const r = log.run(makeCommand('moveIntent', { to: w.intent.to, reason: w.intent.reason, epoch: w.lease?.epoch ?? 0 }, m()));
    if (!r.ok) throw new Error(`fixture intent refused: ${r.message}`);
  }
  for (const spec of w.members) {
    if (spec.maintenance === true) log.run(makeCommand('setMaintenance', { node: spec.id, on: true }, m()));
    const health = spec.health === undefined ? 'healthy' : spec.health;
    if (health === null || spec.id === w.self) continue;
    const failed = spec.policyFailed ?? null;
    log.run(
      makeCommand(
        'reportHealth',
        {
          node: spec.id,
          health,
          monitors: [
            { name: 'upstream', state: spec.monitor ?? (health === 'failed' ? 'down' : 'up') },
            ...Object.entries(spec.watches ?? {}).map(([name, state]) => ({ name, state })),
          ],
          appliedConfigRevision: log.state.configRevision,
          appliedPolicyRevision: spec.appliedPolicyRevision ?? (failed === null ? w.policyRevisions : w.policyRevisions - 1),
          policyApply: { revision: w.policyRevisions, ok: failed === null, error: failed },
          peers: Object.entries(spec.sees ?? {}).map(([id, reachable]) => ({ id, reachable })),
          ...(spec.vipSetup === 'absent'
            ? {}
            : { vipSetup: { revision: log.state.configRevision - (spec.vipSetup === 'stale' ? 1 : 0), problems: spec.vipProblems ?? [] } }),
          ...(spec.holdFault === undefined ? {} : { holdFault: spec.holdFault }),
        },
        m(),
      ),
    );
  }
  let state = log.state;
  if (w.flapDamped) state = { ...state, flapDamped: { since: at(100), moves: 4, index: 1 } };
  if (w.applyError === 'UNSUPPORTED_COMMAND') {
    state = { ...state, lastApplyError: { index: 7, code: w.applyError, message: 'setPolicy command version 2 is newer than this node supports (1); update this node' } };
  } else if (w.applyError === 'MALFORMED_COMMAND') {
    state = { ...state, lastApplyError: { index: 7, code: w.applyError, message: 'malformed setPolicy command at /ruleset: Expected string' } };
  }
  return state;
}

export function input(...patches: Patch[]): RoleInput {
  const w = defaultWorld();
  for (const p of patches) p(w);
  const state = buildState(w);
  const self = w.members.find((m) => m.id === w.self);
  const commit = state.appliedIndex + w.raft.indexOffset;
  const voterIds = w.raft.voters ?? w.members.map((m) => m.id);
  const match = Object.fromEntries(w.members.filter((m) => m.id !== w.self).map((m) => [m.id, commit]));
  return {
    self: { id: w.self, kind: self?.kind ?? 'data' },
    state,
    raft: {
      role: w.raft.role,
      leader: w.raft.leader,
      term: w.raft.term,
      commit: commit + w.raft.lag,
      applied: commit,
      lastIndex: commit + w.raft.lag,
      appliedTerm: w.raft.appliedTerm,
      leaseRemainingTicks: w.raft.role === 'leader' ? w.raft.leaseRemainingTicks : 0,
      leaseVoid: w.raft.role === 'leader' && w.raft.leaseVoid,
      // Its noop: applied once an entry of its own term is, else the next entry after what it applied.
      termStartIndex: w.raft.role !== 'leader' ? 0 : commit + (w.raft.appliedTerm === w.raft.term ? 0 : 1 + w.raft.priorUnapplied),
      ticksSinceLeaderContact: w.raft.ticksSinceLeaderContact,
      match: w.raft.role === 'leader' ? { ...match, ...w.raft.match } : {},
      ticksSinceAck:
        w.raft.role === 'leader' ? { ...Object.fromEntries(Object.keys(match).map((id) => [id, 0])), ...w.raft.ticksSinceAck } : {},
      transferringTo: w.raft.transferringTo,
      voters: voterIds.map((id) => ({ id, kind: w.members.find((m) => m.id === id)?.kind ?? 'data', peer: `${id}:7400` })),
    },
    local: {
      nowTick: w.nowTick,
      health: w.local.health,
      monitors: [{ name: 'upstream', reported: w.local.monitorReported, healthy: w.local.health !== 'failed' }, ...w.local.watches],
      peers: w.members
        .filter((m) => m.id !== w.self)
        .map((m) => ({ id: m.id, paths: [{ name: 'raft', ticksSinceHeard: w.local.silent[m.id] ?? 0 }, { name: 'lan2', ticksSinceHeard: w.local.silent[m.id] ?? 0 }] })),
      appliedConfigRevision: state.configRevision - (w.local.configLag ? 1 : 0),
      policy: {
        appliedRevision: w.local.policyApplied ?? state.policy.revision,
        failedRevision: w.local.policyFailed,
        error: w.local.policyFailed === null ? null : 'nft: syntax error in line 3',
        failedAtTick: w.local.policyFailed === null ? null : (w.local.policyFailedAt ?? w.nowTick),
        failedAttempts: w.local.policyFailed === null ? 0 : w.local.policyFailedAttempts,
      },
      holdingVips: w.local.holdingVips,
      vipSetup:
        w.local.vipSetup === 'none'
          ? null
          : { revision: state.configRevision - (w.local.vipSetup === 'stale' ? 1 : 0), problems: w.local.vipProblems },
    },
    config: CONFIG,
    memory: { ...initialRoleMemory(), ...w.memory },
  };
}

// Patches, named for what they describe.
export const as = (id: NodeId, role: 'leader' | 'follower' | 'candidate' = 'leader'): Patch => (w) => {
  w.self = id;
  w.raft.role = role;
  w.raft.leader = role === 'leader' ? id : role === 'follower' ? 'fw1' : null;
  w.local.holdingVips = false;
  w.memory = {
    reachable: w.members.filter((m) => m.id !== id).map((m) => m.id).sort(),
    leaderSince: role === 'leader' ? { term: w.raft.term, tick: 0 } : null,
  };
};
export const member = (id: NodeId, spec: Partial<MemberSpec>): Patch => (w) => {
  const m = w.members.find((x) => x.id === id);
  if (m === undefined) throw new Error(`no member ${id}`);
  Object.assign(m, spec);
};
export const silent = (id: NodeId, ticks: number): Patch => (w) => {
  w.local.silent[id] = ticks;
};
export const lease = (holder: NodeId | null, epoch = 3): Patch => (w) => {
  w.lease = holder === null ? null : { holder, epoch };
};
export const raft = (r: Partial<World['raft']>): Patch => (w) => {
  Object.assign(w.raft, r);
};
export const local = (l: Partial<World['local']>): Patch => (w) => {
  Object.assign(w.local, l);
};
export const settings = (s: Record<string, unknown>): Patch => (w) => {
  Object.assign(w.settings, s);
};
export const memory = (m: Partial<RoleMemory>): Patch => (w) => {
  Object.assign(w.memory, m);
};
/** Each data node's address watched by a ping monitor `of` it on the other nodes (R10, the seed's "monitored address"). */
export const watchMonitors: Patch = (w) => {
  w.settings['monitors'] = [
    { name: 'upstream', kind: 'ping', target: '10.0.0.254', intervalMs: 500 },
    { name: 'sees-fw1', kind: 'ping', target: '10.0.0.11', intervalMs: 500, of: 'fw1' },
    { name: 'sees-fw2', kind: 'ping', target: '10.0.0.12', intervalMs: 500, of: 'fw2' },
  ];
};
export const noWitness: Patch = (w) => {
  w.members = w.members.filter((m) => m.kind !== 'witness');
};
