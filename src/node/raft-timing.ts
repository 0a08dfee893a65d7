/**
 * The cluster's timers reach the Raft core while it runs (docs/raft-timing.md,
 * "Changing the timers live"). Nodes apply a committed settings change at
 * different moments, so for a while voters run different election timeouts;
 * the lease must never count a voter's acknowledgement for longer than that
 * voter refuses votes. Two rules keep it so:
 *
 * - this node's vote refusal window covers every timer revision from the one
 *   its last COMMITTED health report names up to the one it runs now (the
 *   largest of their election timeouts), and is kept on disk so a restart
 *   cannot shorten it;
 * - a leader counts each voter for the election timeout of the revision that
 *   voter's committed report names (it is covered by the first rule), and
 *   not at all when it does not know that revision's timers.
 *
 * Everything here but the file is pure; the agent calls it on every change
 * of the applied state.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSettings } from '../fsm/settings.js';
import type { ClusterState } from '../fsm/state.js';
import type { ElectionJitter, LeaseTicks, NodeId, RaftTimers } from '../raft/types.js';
import { roleConfigFromSettings } from '../role/decide.js';

/** Timer revisions remembered (a revision older than these counts its voter for nothing until it reports again). */
export const TIMER_HISTORY_LIMIT = 64;
export const VOTE_REFUSAL_FILE = 'vote-refusal.json';

export interface TickTimers {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
}

export function tickTimers(settings: ClusterSettings, tickMs: number): TickTimers {
  const c = roleConfigFromSettings(settings, { tickMs });
  return { electionTicks: c.electionTicks, heartbeatTicks: c.heartbeatTicks };
}

/**
 * hapair's election jitter (docs/raft-timing.md, "Election jitter"): a
 * tenth of the election timeout, starting two ticks late. etcd draws from a
 * whole timeout to keep several candidates apart, but after an active fails
 * only one data node is left to campaign (a witness waits three timeouts),
 * so that spread would only be added to every failover. Two ticks late, the
 * witness, which heard the same last heartbeat, is past its own vote
 * refusal when the pre-vote arrives; the remaining spread separates two
 * data nodes that start together without a witness.
 */
export function electionJitter(electionTicks: number): ElectionJitter {
  return { minTicks: 2, spanTicks: Math.max(3, Math.ceil(electionTicks / 10)) };
}

export class TimerPolicy {
  /** Settings revision -> its election timeout in ticks, oldest first. */
  private readonly history = new Map<number, number>();
  private refusalTicks: number;
  private current: { readonly revision: number; readonly timers: TickTimers };

  /**
   * `initial`: the timers of revision 0 (the defaults, what every node runs
   * before it applies any settings); `persistedRefusalTicks`: the window a
   * previous run of this node may have promised (null when none).
   */
  constructor(
    private readonly self: NodeId,
    initial: TickTimers,
    persistedRefusalTicks: number | null,
  ) {
    this.current = { revision: 0, timers: initial };
    this.history.set(0, initial.electionTicks);
    this.refusalTicks = Math.max(initial.electionTicks, persistedRefusalTicks ?? 0);
  }

  get voteRefusalTicks(): number {
    return this.refusalTicks;
  }

  /**
   * Follows the applied state: the settings revision in force and this
   * node's own committed report. Returns true when the refusal window changed
   * (the caller persists it before anything else happens).
   */
  observe(state: ClusterState, timers: TickTimers): boolean {
    const before = this.refusalTicks;
    const revision = state.configRevision;
    if (revision !== this.current.revision || timers.electionTicks !== this.current.timers.electionTicks) {
      this.current = { revision, timers };
      this.remember(revision, timers.electionTicks);
      // Until a report of this revision is committed, leaders may count us for an older one's timeout.
      this.refusalTicks = Math.max(this.refusalTicks, timers.electionTicks);
    } else if (this.current.timers.heartbeatTicks !== timers.heartbeatTicks) {
      this.current = { revision, timers };
    }
    const reported = state.members.find((m) => m.id === this.self)?.health?.appliedConfigRevision;
    if (reported === revision && this.refusalTicks !== timers.electionTicks) {
      // Every leader now counts us for this revision's timeout, which is all we must refuse for.
      this.refusalTicks = timers.electionTicks;
    }
    return this.refusalTicks !== before;
  }

  /** The timers for the core, given the applied state (each member's committed report). */
  raftTimers(state: ClusterState): RaftTimers {
    const peers: Record<NodeId, number> = {};
    for (const m of state.members) {
      if (m.id === this.self || m.health === null) continue;
      const ticks = this.history.get(m.health.appliedConfigRevision);
      if (ticks !== undefined) peers[m.id] = ticks;
    }
    const leaseTicks: LeaseTicks = { self: this.refusalTicks, peers, otherPeers: 0 };
    return {
      electionTicks: this.current.timers.electionTicks,
      heartbeatTicks: this.current.timers.heartbeatTicks,
      electionJitter: electionJitter(this.current.timers.electionTicks),
      voteRefusalTicks: this.refusalTicks,
      leaseTicks,
    };
  }

  private remember(revision: number, electionTicks: number): void {
    this.history.delete(revision);
    this.history.set(revision, electionTicks);
    while (this.history.size > TIMER_HISTORY_LIMIT) {
      const oldest = this.history.keys().next().value;
      if (oldest === undefined) break;
      this.history.delete(oldest);
    }
  }
}

/** The refusal window a previous run promised, in ms; null when there is no file. */
export function readVoteRefusalMs(dataDir: string): number | null {
  const file = join(dataDir, VOTE_REFUSAL_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { voteRefusalMs?: unknown }).voteRefusalMs;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(
      `${file}: not a valid vote refusal record (expected {"voteRefusalMs": N}); it is written by the agent: ` +
        'restore it from a backup of the host, or delete it only after this node has been stopped for longer than the largest election timeout the cluster ever used',
    );
  }
  return value;
}

/** Durably records the refusal window (write, fsync, rename): a crash leaves the old or the new record, never none. */
export function writeVoteRefusalMs(dataDir: string, ms: number): void {
  const file = join(dataDir, VOTE_REFUSAL_FILE);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ voteRefusalMs: ms })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dataDir, 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
