/**
 * TimerPolicy: how a node's vote refusal window and its lease counting
 * follow committed timer changes (docs/raft-timing.md, "Changing the timers
 * live"), and the file that keeps the window across restarts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_SETTINGS } from '../../src/fsm/settings.js';
import { initialState, type ClusterState, type HealthReport, type MemberRecord } from '../../src/fsm/state.js';
import {
  TIMER_HISTORY_LIMIT,
  TimerPolicy,
  VOTE_REFUSAL_FILE,
  electionJitter,
  readVoteRefusalMs,
  tickTimers,
  writeVoteRefusalMs,
} from '../../src/node/raft-timing.js';

const TICK_MS = 10;

function member(id: string, reportedRevision: number | null): MemberRecord {
  const health: HealthReport | null =
    reportedRevision === null
      ? null
      : {
          at: '',
          index: 1,
          health: 'healthy',
          monitors: [],
          appliedConfigRevision: reportedRevision,
          appliedPolicyRevision: 0,
          policyApply: { revision: 0, ok: true, error: null },
          peers: [],
        };
  return { id, kind: 'data', peer: '', api: '', version: '0.1.0', entitlementPresent: true, maintenance: false, registeredAt: '', health };
}

/** A state at settings revision `revision` with election timeout `electionMs`, and each member's last committed report. */
function stateAt(revision: number, electionMs: number, reports: Record<string, number | null>): ClusterState {
  return {
    ...initialState(),
    configRevision: revision,
    settings: { ...DEFAULT_SETTINGS, timers: { heartbeatMs: Math.min(100, electionMs / 5), electionTimeoutMs: electionMs } },
    members: Object.entries(reports).map(([id, r]) => member(id, r)),
  };
}

function observe(p: TimerPolicy, s: ClusterState): boolean {
  return p.observe(s, tickTimers(s.settings, TICK_MS));
}

/** The default election timeout (800 ms) in ticks: what every node runs at revision 0. */
const D = 80;

t.test('an increase: the window grows at once; leaders count each voter by the revision it reported', async (t) => {
  const p = new TimerPolicy('fw1', tickTimers(DEFAULT_SETTINGS, TICK_MS), null);
  t.equal(p.voteRefusalTicks, D, 'the defaults: 800 ms');
  t.ok(observe(p, stateAt(1, 3000, { fw1: 0, fw2: 0, wit: null })), 'the window changed');
  t.equal(p.voteRefusalTicks, 300);
  t.same(p.raftTimers(stateAt(1, 3000, { fw1: 0, fw2: 0, wit: null })), {
    electionTicks: 300,
    heartbeatTicks: 10,
    electionJitter: { minTicks: 2, spanTicks: 30 },
    voteRefusalTicks: 300,
    leaseTicks: { self: 300, peers: { fw2: D }, otherPeers: 0 },
  }, 'fw2 still reports revision 0 (the defaults); wit never reported: not counted');
  t.same(p.raftTimers(stateAt(1, 3000, { fw1: 1, fw2: 1, wit: 1 })).leaseTicks, { self: 300, peers: { fw2: 300, wit: 300 }, otherPeers: 0 });
});

t.test('a decrease: the window stays at the old timeout until this node\'s report of the new revision is committed', async (t) => {
  const p = new TimerPolicy('fw1', tickTimers(DEFAULT_SETTINGS, TICK_MS), null);
  t.notOk(observe(p, stateAt(1, 500, { fw1: 0, fw2: 0 })), 'no change of the window yet');
  t.equal(p.voteRefusalTicks, D, 'leaders may still count fw1 for revision 0 (the defaults)');
  t.match(p.raftTimers(stateAt(1, 500, { fw1: 0, fw2: 0 })), { electionTicks: 50, voteRefusalTicks: D, leaseTicks: { self: D, peers: { fw2: D } } });
  t.notOk(observe(p, stateAt(1, 500, { fw1: 0, fw2: 1 })), 'another member\'s report changes nothing here');
  t.ok(observe(p, stateAt(1, 500, { fw1: 1, fw2: 1 })), 'its own report of revision 1 is committed');
  t.equal(p.voteRefusalTicks, 50);
  t.same(p.raftTimers(stateAt(1, 500, { fw1: 1, fw2: 1 })).leaseTicks, { self: 50, peers: { fw2: 50 }, otherPeers: 0 });
});

t.test('the window covers every revision between the reported one and the current one', async (t) => {
  const p = new TimerPolicy('fw1', tickTimers(DEFAULT_SETTINGS, TICK_MS), null);
  observe(p, stateAt(1, 3000, { fw1: 0 }));
  observe(p, stateAt(2, 500, { fw1: 0 }));
  t.equal(p.voteRefusalTicks, 300, 'revision 1 (300 ticks) is still covered though revision 2 is shorter');
  observe(p, stateAt(2, 500, { fw1: 1 }));
  t.equal(p.voteRefusalTicks, 300, 'a committed report of revision 1 is not one of revision 2');
  observe(p, stateAt(2, 500, { fw1: 2 }));
  t.equal(p.voteRefusalTicks, 50);
});

t.test('election jitter: two ticks late, a tenth of the timeout wide (at least three ticks)', async (t) => {
  t.same(electionJitter(80), { minTicks: 2, spanTicks: 8 }, 'default profile: timeouts in [820, 900) ms');
  t.same(electionJitter(10), { minTicks: 2, spanTicks: 3 }, 'fast profile: timeouts in [120, 150) ms');
  t.same(electionJitter(300), { minTicks: 2, spanTicks: 30 });
});

t.test('a restart keeps the promised window; old revisions fall out of the history', async (t) => {
  const p = new TimerPolicy('fw1', tickTimers(DEFAULT_SETTINGS, TICK_MS), 250);
  t.equal(p.voteRefusalTicks, 250, 'the window from the file');
  t.equal(new TimerPolicy('fw1', tickTimers(DEFAULT_SETTINGS, TICK_MS), 20).voteRefusalTicks, D, 'never below the defaults');
  for (let r = 1; r <= TIMER_HISTORY_LIMIT + 5; r++) observe(p, stateAt(r, 1000 + r * 10, { fw1: r }));
  const peers = p.raftTimers(stateAt(TIMER_HISTORY_LIMIT + 5, 1000, { fw1: 0, fw2: 3, wit: 10 })).leaseTicks?.peers;
  t.same(peers, { wit: 110 }, 'revision 3 is forgotten (its voter counts for nothing); revision 10 (1100 ms) is remembered');
});

t.test('the vote refusal file: written durably, read back, a damaged one stops the start with its name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hapair-timing-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(readVoteRefusalMs(dir), null, 'none yet');
  writeVoteRefusalMs(dir, 3000);
  t.equal(readVoteRefusalMs(dir), 3000);
  t.same(JSON.parse(readFileSync(join(dir, VOTE_REFUSAL_FILE), 'utf8')), { voteRefusalMs: 3000 });
  writeFileSync(join(dir, VOTE_REFUSAL_FILE), '{"voteRefusalMs": "soon"}');
  t.throws(() => readVoteRefusalMs(dir), { message: new RegExp(`^${join(dir, VOTE_REFUSAL_FILE).replaceAll('/', '\\/')}: not a valid vote refusal record`) });
});
