/**
 * Conditions (R6, R12): every unmet requirement and every degraded state,
 * each a code, a severity and a sentence an operator can act on. Derived
 * from the replicated state plus this node's observations; decide() adds
 * the ones only a rule knows (GUARDED_TAKEOVER, UNILATERAL, NOT_READY,
 * MOVE_PENDING with its reason). docs/role.md lists them all.
 */
import { findMember, memberVersions, type ClusterState } from '../fsm/state.js';
import { ownMonitorNames } from '../fsm/settings.js';
import { compareVersions } from '../fsm/versions.js';
import type { NodeId } from '../raft/types.js';
import { healthOk, isReachable, silenceText, type Facts } from './facts.js';
import type { Condition } from './types.js';

export function flapDampedSentence(state: ClusterState): string | null {
  const damped = state.flapDamped;
  if (damped === null) return null;
  const windowS = Math.round(state.settings.flapDamping.windowMs / 1000);
  return `the active role moved ${damped.moves} times within ${windowS} s (at ${damped.since}); automatic failback is stopped until an operator clears flap damping`;
}

export function deriveConditions(f: Facts, holding: boolean): Condition[] {
  const out: Condition[] = [];
  const { state } = f;
  const raft = f.input.raft;
  const local = f.input.local;
  const add = (code: Condition['code'], severity: Condition['severity'], node: NodeId | null, message: string) =>
    out.push({ code, severity, node, message });
  const holder = state.lease?.holder ?? null;

  if (!f.isLeader && raft.leader === null && raft.ticksSinceLeaderContact >= f.config.electionTicks) {
    add(
      'NO_QUORUM',
      'error',
      null,
      `${f.id} sees no Raft leader: it cannot reach a quorum, so configuration writes are refused and no node can be granted the active role`,
    );
  }

  if (state.lease === null) {
    add('NO_ACTIVE', 'error', null, 'no node holds the active role yet');
  } else if (findMember(state, holder) === undefined) {
    add('NO_ACTIVE', 'error', holder, `the lease names ${holder ?? ''}, which is no longer a member; the next leader takes the role`);
  }

  if (memberVersions(state).length > 1) {
    const list = state.members.map((m) => `${m.id} ${m.version}`).join(', ');
    add(
      'VERSION_MISMATCH',
      'warning',
      null,
      `members run different software versions (${list}): settings, policy and restore writes are refused, and the role never moves automatically to an older node, until every node runs the same version`,
    );
  }

  policyConditions(f, add);

  for (const m of state.members) {
    if (m.id === f.id) continue;
    if (!isReachable(f, m.id)) {
      add('MEMBER_UNREACHABLE', m.id === holder ? 'error' : 'warning', m.id, `${m.id} is unreachable: ${silenceText(f, m.id)}`);
    }
  }

  for (const m of state.members) {
    const health = m.id === f.id ? local.health : m.health?.health;
    if (health === 'failed') {
      const own = ownMonitorNames(state.settings.monitors);
      const down = (
        m.id === f.id
          ? local.monitors.filter((o) => o.reported && !o.healthy).map((o) => o.name)
          : (m.health?.monitors ?? []).filter((o) => o.state === 'down').map((o) => o.name)
      ).filter((name) => own.has(name));
      add(
        'MEMBER_UNHEALTHY',
        m.id === holder ? 'error' : 'warning',
        m.id,
        `${m.id} reports failed health${down.length > 0 ? ` (down: ${down.join(', ')})` : ''}`,
      );
    }
  }

  const data = state.members.filter((m) => m.kind === 'data');
  if (data.length >= 2 && !state.members.some((m) => m.kind === 'witness')) {
    add(
      'NO_WITNESS',
      'warning',
      null,
      'there is no witness: if every path between the two nodes is cut while both still reach the network, both may take the active role, so split brain cannot be ruled out; add a witness on a third host',
    );
  }

  if (state.lease !== null) {
    const standbys = data.filter((m) => m.id !== holder);
    const problems = standbys.map((m) => standbyProblem(f, m.id));
    if (problems.every((p) => p !== null)) {
      const why = standbys.length === 0 ? 'the cluster has a single data node' : problems.join('; ');
      add(
        'DEGRADED',
        'error',
        holder,
        `running without a standby: ${why}; the active ${holder ?? ''} has nowhere to fail over to, so fix this to return to the duplexed state`,
      );
    }
  }

  for (const m of data) {
    if (!m.entitlementPresent) {
      add('ENTITLEMENT_MISSING', 'error', m.id, `${m.id} has no entitlement: the licence file named in its node config is missing`);
    }
  }

  for (const m of state.members) {
    if (!m.maintenance) continue;
    if (m.id === holder && (m.id !== f.id || holding)) {
      add('MAINTENANCE', 'warning', m.id, `the active ${m.id} is in maintenance; the role moves away as soon as another node can take it`);
    } else {
      add('MAINTENANCE', 'info', m.id, `${m.id} is in maintenance: it will not take the active role`);
    }
  }

  const damped = flapDampedSentence(state);
  if (damped !== null) add('FLAP_DAMPED', 'warning', null, damped);

  if (f.intent !== null) {
    add('MOVE_PENDING', 'info', f.intent.to, `moving the active role from ${holder ?? ''} to ${f.intent.to} (${f.intent.reason}) is under way`);
  }

  // Only an entry this version does not support leaves this node's state
  // behind the others'; it clears once an updated node has replayed it (the
  // log is kept from it) or a snapshot from an up-to-date node replaced the
  // state. A malformed entry is skipped by every node alike (it is in the
  // audit log as refused), so nothing stays wrong and nothing is raised.
  const error = state.lastApplyError;
  if (error !== null && error.code === 'UNSUPPORTED_COMMAND') {
    add(
      'APPLY_ERROR',
      'error',
      f.id,
      `${f.id} could not apply log entry ${error.index}: ${error.message}; its copy of the cluster state lacks that change until it runs a version that can (it keeps its log from that entry, so the update replays it)`,
    );
  }
  return out;
}

function policyConditions(
  f: Facts,
  add: (code: Condition['code'], severity: Condition['severity'], node: NodeId | null, message: string) => void,
): void {
  const { state } = f;
  const revision = state.policy.revision;
  const holder = state.lease?.holder ?? null;
  for (const m of state.members) {
    if (m.kind !== 'data') continue;
    const self = m.id === f.id;
    const failed = self
      ? f.input.local.policy.failedRevision === revision && f.input.local.policy.appliedRevision !== revision
      : m.health !== null && m.health.policyApply.revision === revision && !m.health.policyApply.ok;
    if (!failed) continue;
    const error = self ? f.input.local.policy.error : (m.health?.policyApply.error ?? null);
    const keeps = m.id !== holder && holder !== null ? `; the active ${holder} keeps its current policy until this is fixed (standby first, R11)` : '';
    add('POLICY_APPLY_FAILED', 'error', m.id, `${m.id} failed to apply policy revision ${revision}: ${error ?? 'no reason given'}${keeps}`);
  }
}

/** Why `id` could not take over from the active right now (null when it is a working standby). */
function standbyProblem(f: Facts, id: NodeId): string | null {
  const m = findMember(f.state, id);
  if (m === undefined) return `${id} is not a member`;
  if (m.maintenance) return `${id} is in maintenance`;
  if (id === f.id) {
    if (!healthOk(f.input.local.health)) return `${id} is ${f.input.local.health}`;
    const setup = f.input.local.vipSetup;
    if (setup !== null && setup.problems.length > 0) return `${id} cannot hold the VIPs: ${setup.problems.join('; ')}`;
  } else {
    if (!isReachable(f, id)) return `${id} is unreachable`;
    if (m.health !== null && !healthOk(m.health.health)) return `${id} is ${m.health.health}`;
    const setup = m.health?.vipSetup;
    if (setup !== undefined && setup.problems.length > 0) return `${id} cannot hold the VIPs: ${setup.problems.join('; ')}`;
  }
  const active = findMember(f.state, f.state.lease?.holder);
  if (active !== undefined && compareVersions(m.version, active.version) < 0) {
    return `${id} runs an older version (${m.version}) than the active (${active.version})`;
  }
  return null;
}
