/**
 * Majority arithmetic over one voter set. Membership changes go one server
 * at a time, so a single majority configuration is always in force.
 */
import { assert } from '../util/assert.js';
import type { NodeId } from './types.js';

export function quorumSize(voters: number): number {
  assert(voters >= 1, 'a quorum needs at least one voter');
  return Math.floor(voters / 2) + 1;
}

/**
 * The largest value v such that a quorum of voters report a value >= v:
 * the commit index over match indexes, or the lease's send tick over
 * acknowledged heartbeat ticks.
 */
export function quorumValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  const values = voters.map(valueOf).sort((a, b) => b - a);
  return values[quorumSize(voters.length) - 1] as number;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (rejected > voters.length - q) return 'lost';
  return 'pending';
}

/** True when the ids in `acks` include a quorum of `voters`. */
export function hasQuorum(voters: readonly NodeId[], acks: ReadonlySet<NodeId>): boolean {
  let n = 0;
  for (const id of voters) if (acks.has(id)) n++;
  return n >= quorumSize(voters.length);
}

// While membership changes are in the log but not known to be committed, a
// decision needs a majority of every configuration from the committed one to
// the newest (see membership.ts): the "joint" forms below take the most
// conservative answer over all of them.

export function jointQuorumValue(voterSets: readonly (readonly NodeId[])[], valueOf: (id: NodeId) => number): number {
  let min = Number.POSITIVE_INFINITY;
  for (const voters of voterSets) if (voters.length > 0) min = Math.min(min, quorumValue(voters, valueOf));
  return min;
}

export function jointVoteOutcome(voterSets: readonly (readonly NodeId[])[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let won = true;
  for (const voters of voterSets) {
    if (voters.length === 0) continue;
    const outcome = voteOutcome(voters, votes);
    if (outcome === 'lost') return 'lost';
    if (outcome === 'pending') won = false;
  }
  return won ? 'won' : 'pending';
}

export function jointHasQuorum(voterSets: readonly (readonly NodeId[])[], acks: ReadonlySet<NodeId>): boolean {
  return voterSets.every((voters) => voters.length === 0 || hasQuorum(voters, acks));
}
