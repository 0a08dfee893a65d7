/**
 * Membership changes, one server at a time, effective when COMMITTED
 * (etcd's rule, not the dissertation's "effective when appended"): who is a
 * member, who the leader replicates to, who may campaign and what status()
 * reports all follow the committed membership.
 *
 * Why this is safe for single-server changes:
 * - Any majority of C and any majority of C' = C ± one server intersect
 *   (Ongaro's dissertation, 4.1).
 * - A leader proposes a change only when the previous one is committed and
 *   its own noop has committed (so every earlier entry has). Hence each
 *   C_k+1 is committed by a majority of C_k, and in the true sequence of
 *   committed configurations each step is a single-server change.
 * - A node may learn that a change is committed late. If its commit index
 *   lags two changes, its committed C_k and the cluster's C_k+2 may have
 *   disjoint majorities: counting with C_k alone, it could be elected beside
 *   a leader committing with C_k+2 (the counter-example of etcd-io/etcd#7625
 *   and etcd-io/raft#456; etcd's "no campaign with unapplied changes" rule
 *   does not cover a lagging commit index). So every quorum decision here —
 *   winning PreVote and Vote, committing, CheckQuorum, the lease, ReadIndex —
 *   needs a majority of EACH configuration from the committed one to the
 *   newest one in the node's log (rarely more than one extra). A candidate
 *   that lacks a committed change cannot win at all: the change's holders
 *   are a majority of the configuration before it and refuse it by the
 *   up-to-date rule (5.4.1). A candidate that holds it counts it. So the
 *   newest committed configuration is always among those counted, and any
 *   two decisions overlap in one node.
 * - Committed entries are never truncated, so an effective configuration
 *   never reverts.
 * - Removing the leader itself: it keeps leading (counting itself where it
 *   is still a voter) until the entry commits, then hands over and steps
 *   down.
 */
import type { Member, MemberKind, Membership, MembershipChange, NodeId } from './types.js';

export const EMPTY_MEMBERSHIP: Membership = { voters: [], learners: [] };

/** A learner is promoted only when its log is within this many entries of the leader's. */
export const PROMOTE_MAX_LAG_ENTRIES = 32;

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.some((v) => v.id === id);
}

export function isLearner(m: Membership, id: NodeId): boolean {
  return m.learners.some((v) => v.id === id);
}

export function findMember(m: Membership, id: NodeId): Member | undefined {
  return m.voters.find((v) => v.id === id) ?? m.learners.find((v) => v.id === id);
}

export function kindOf(m: Membership, id: NodeId): MemberKind | null {
  return findMember(m, id)?.kind ?? null;
}

export function voterIds(m: Membership): NodeId[] {
  return m.voters.map((v) => v.id);
}

export function memberIds(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners].map((v) => v.id);
}

export function isEmptyMembership(m: Membership): boolean {
  return m.voters.length === 0 && m.learners.length === 0;
}

/**
 * Applies a committed change. Changes were validated when proposed; a
 * committed change that no longer fits (for example a duplicate from a
 * bootstrap list) leaves the membership unchanged rather than corrupting it.
 */
export function applyChange(m: Membership, change: MembershipChange): Membership {
  switch (change.op) {
    case 'addLearner':
      if (findMember(m, change.member.id) !== undefined) return m;
      return { voters: m.voters, learners: [...m.learners, change.member] };
    case 'promote': {
      const learner = m.learners.find((l) => l.id === change.id);
      if (learner === undefined) return m;
      return { voters: [...m.voters, learner], learners: m.learners.filter((l) => l.id !== change.id) };
    }
    case 'remove':
      return { voters: m.voters.filter((v) => v.id !== change.id), learners: m.learners.filter((l) => l.id !== change.id) };
  }
}

/** What the leader knows about a learner when asked to promote it. */
export interface LearnerLag {
  readonly match: number;
  readonly leaderLastIndex: number;
  readonly ticksSinceHeard: number;
  readonly electionTicks: number;
}

/** Why a change is invalid against the current membership, or null when it is fine. */
export function validateChange(m: Membership, change: MembershipChange, lagOf: (id: NodeId) => LearnerLag | null): string | null {
  switch (change.op) {
    case 'addLearner': {
      const member = change.member;
      if (typeof member.id !== 'string' || member.id.length === 0) return 'member id must be a non-empty string';
      if (member.kind !== 'data' && member.kind !== 'witness') return `member kind must be data or witness, got ${String(member.kind)}`;
      if (findMember(m, member.id) !== undefined) return `${member.id} is already a member`;
      return null;
    }
    case 'promote': {
      if (!isLearner(m, change.id)) return `${change.id} is not a learner`;
      const lag = lagOf(change.id);
      if (lag === null) return `${change.id} has no replication progress yet`;
      if (lag.ticksSinceHeard >= lag.electionTicks) return `${change.id} has not been heard from within the election timeout`;
      const behind = lag.leaderLastIndex - lag.match;
      if (behind > PROMOTE_MAX_LAG_ENTRIES) {
        return `${change.id} is ${behind} entries behind the leader (at most ${PROMOTE_MAX_LAG_ENTRIES} allowed); let it catch up first`;
      }
      return null;
    }
    case 'remove': {
      if (findMember(m, change.id) === undefined) return `${change.id} is not a member`;
      if (isVoter(m, change.id)) {
        const rest = m.voters.filter((v) => v.id !== change.id);
        if (rest.length === 0) return `${change.id} is the last voter`;
        if (!rest.some((v) => v.kind === 'data')) return `removing ${change.id} would leave no data node among the voters`;
      }
      return null;
    }
  }
}

/** The changes that build `m` from nothing: how a bootstrap membership enters the log. */
export function bootstrapChanges(m: Membership): MembershipChange[] {
  const out: MembershipChange[] = [];
  for (const v of m.voters) {
    out.push({ op: 'addLearner', member: v }, { op: 'promote', id: v.id });
  }
  for (const l of m.learners) out.push({ op: 'addLearner', member: l });
  return out;
}
