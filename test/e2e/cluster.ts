/**
 * What every end-to-end scenario file shares: the lab's set-up with a
 * cluster formed and settings applied, the API calls the scenarios make
 * (settings, switchover, status), the precondition each scenario starts
 * from (`ensureActive`), the client-side checks, and the timing bounds.
 *
 * The bounds are generous (safety, not speed: speed belongs to `npm run
 * bench -- failover`) and derived from the timers the settings configure,
 * each with the margin it allows written next to it, so that a loaded
 * 2-core CI machine does not make them flaky.
 */
import t, { type Test } from 'tap';
import { E2eLab, labUnavailable, now, until, VIP, type AgentId, type StatusView } from './lab.js';
import { hostRuns, type ProbeRow } from './probe.js';

export type DataNode = 'fw1' | 'fw2';

export const HEARTBEAT_MS = 100;
export const ELECTION_TIMEOUT_MS = 1000;
export const HOLD_DOWN_MS = 500;
/** The kernel fence lapses within the lease, which is shorter than the election timeout; slack for the probe's clock. */
export const FENCE_BOUND_MS = ELECTION_TIMEOUT_MS + 100;
/** Detection (an election timeout), election, grant, `ip addr add`, GARP: measured ~1 s; 5x for a loaded machine. */
export const FAILOVER_BOUND_MS = 5 * ELECTION_TIMEOUT_MS;
/** A planned move (intent, release, transfer, grant): measured ~80 ms; bounded by the takeover steps after detection. */
export const PLANNED_MOVE_BOUND_MS = 3 * ELECTION_TIMEOUT_MS;
/** After a heal or a replug: a re-announcement or a planned move; the same bound. */
export const POST_HEAL_BOUND_MS = PLANNED_MOVE_BOUND_MS;
/** Answers from the new host that count as "it carries the traffic": half a second of probes. */
export const STABLE_ANSWERS = 100;

export interface MonitorTimers {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failAfter: number;
  readonly recoverAfter: number;
}

/**
 * The longest time from a fault to its monitor going down: the probe in
 * flight when the fault happens may still succeed (one interval), then
 * failAfter probes fail, an interval apart, the last one at its timeout.
 */
export function monitorDetectBoundMs(m: MonitorTimers): number {
  return m.failAfter * m.intervalMs + m.timeoutMs;
}

/** The cluster settings the scenarios use; `extra` replaces keys (monitors, failback). */
export function settings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    vips: [{ address: `${VIP}/24`, interface: 'lan' }],
    preferred: 'fw1',
    failback: { auto: true, holdDownMs: HOLD_DOWN_MS },
    timers: { heartbeatMs: HEARTBEAT_MS, electionTimeoutMs: ELECTION_TIMEOUT_MS },
    monitors: [],
    // The scenarios move the role a dozen times in a minute on purpose; damping would (rightly) stop the failbacks.
    flapDamping: { maxMoves: 1000 },
    ...extra,
  };
}

export function other(id: DataNode): DataNode {
  return id === 'fw1' ? 'fw2' : 'fw1';
}

export function selfRole(s: StatusView | null): string | null {
  return s?.members.find((m) => m.id === s.node)?.role ?? null;
}

/** The answering hosts in order, repeats collapsed. */
export function hosts(rows: readonly ProbeRow[]): string[] {
  return hostRuns(rows).map((r) => r.host);
}

export function lastAnswerFrom(rows: readonly ProbeRow[], host: string): number | null {
  let last: number | null = null;
  for (const r of rows) if (r.hosts.includes(host)) last = r.sentAt;
  return last;
}

export function firstAnswerFrom(rows: readonly ProbeRow[], host: string, since = 0): number | null {
  return rows.find((r) => r.sentAt >= since && r.hosts.includes(host))?.sentAt ?? null;
}

/** Without root or `ip netns`, an e2e file says why and ends as skipped (it runs in CI). */
export async function skipWithoutLab(): Promise<void> {
  const reason = await labUnavailable();
  if (reason === null) return;
  console.log(`# e2e skipped: ${reason}`);
  t.plan(0, `skipped: ${reason}`);
  process.exit(0);
}

/** The peek probe through one host's MAC ran (enough datagrams) and got no answer at all. */
export function assertSilent(t: Test, rows: readonly ProbeRow[], what: string): void {
  t.ok(rows.length >= 40 && rows.every((r) => r.host === null), `${what} (${rows.filter((r) => r.host !== null).length} of ${rows.length} probes answered)`);
}

/** The peek probe through one host's MAC got answers from that host for most of its datagrams. */
export function assertAnswers(t: Test, rows: readonly ProbeRow[], host: string, what: string): void {
  const n = rows.filter((r) => r.host === host).length;
  t.ok(rows.length >= 40 && n >= rows.length / 2, `${what} (${n} of ${rows.length} probes answered by ${host})`);
}

export class E2eCluster {
  readonly measured: string[] = [];

  constructor(readonly lab: E2eLab) {
    t.teardown(() => lab.down());
  }

  /**
   * Builds the lab, starts a responder in each data node, the API forwarder
   * and every agent that forms the cluster (`lab.bootstrap`: all of them
   * unless the lab says otherwise), waits for a Raft leader and applies
   * `body`. Returns why it failed, or null.
   */
  async setUp(body: Record<string, unknown>): Promise<string | null> {
    const lab = this.lab;
    return (async (): Promise<string | null> => {
      await lab.up();
      for (const host of ['fw1', 'fw2'] as const) await lab.startResponder(host);
      await lab.startApiForwarder();
      for (const id of lab.bootstrap) lab.startAgent(id);
      const leader = await until(async () => (await lab.status('fw1'))?.leader ?? null, 30_000);
      if (leader === null) return 'no Raft leader within 30 s';
      return this.putConfig(body);
    })().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
  }

  /** Applies the settings through whichever data node answers; null when applied, else the last refusal. */
  async putConfig(body: Record<string, unknown>, timeoutMs = 20_000): Promise<string | null> {
    let last = 'no attempt';
    const ok = await until(async () => {
      for (const id of ['fw1', 'fw2'] as const) {
        const r = await this.lab.api(id, 'PUT', '/v1/config', body).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status === 200) return true;
        last = `${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`;
      }
      return false;
    }, timeoutMs, 200);
    return ok === null ? last : null;
  }

  async switchover(to: DataNode, options: { force?: boolean } = {}): Promise<{ status: number; body: unknown }> {
    return this.lab
      .api(other(to), 'POST', '/v1/switchover', { to, ...(options.force === true ? { force: true } : {}) }, 15_000)
      .catch((e: Error) => ({ status: 0, body: e.message }));
  }

  status(id: AgentId): Promise<StatusView | null> {
    return this.lab.status(id);
  }

  /** `id` holds the role by its own account and the other data node (if running) agrees. */
  async agreedActive(id: DataNode, timeoutMs: number): Promise<boolean> {
    const lab = this.lab;
    const peer = other(id);
    const agreed = await until(async () => {
      const [mine, theirs] = [await lab.status(id), await lab.status(peer)];
      const peerAgrees = lab.agentRunning(peer) ? theirs?.active?.node === id && selfRole(theirs) === 'standby' : true;
      return mine?.active?.node === id && selfRole(mine) === 'active' && peerAgrees;
    }, timeoutMs);
    return agreed !== null;
  }

  async answering(id: DataNode, timeoutMs: number): Promise<boolean> {
    const probe = await this.lab.startProbe({ maxMs: timeoutMs + 1000 });
    const ok = await probe.waitAnswers(id, 40, probe.startedAt, timeoutMs);
    await probe.stop();
    return ok;
  }

  /**
   * The starting point of a scenario: `id` holds the role by its own account,
   * the other data node (if running) agrees, and the client gets answers from
   * it. Moves the role there by switchover if needed. A node that holds the
   * role but stays silent fails the precondition.
   */
  async ensureActive(t: Test, id: DataNode): Promise<boolean> {
    const peer = other(id);
    if (!(await this.agreedActive(id, 10_000)) && this.lab.agentRunning(peer)) {
      const moved = await this.switchover(id);
      t.comment(`moving the role to ${id} for this scenario: HTTP ${moved.status}`);
    }
    if (!(await this.agreedActive(id, 20_000))) {
      t.fail(`precondition: ${id} did not become active with ${peer} standby`);
      return false;
    }
    if (await this.answering(id, 4000)) return true;
    t.fail(`precondition: ${id} is active but the client gets no answer from it`);
    return false;
  }

  /** A scenario: a subtest that prints the agents' logs when it fails. */
  scenario(name: string, body: (t: Test) => Promise<void>): void {
    t.test(name, { timeout: 90_000 }, async (t) => {
      try {
        await body(t);
      } finally {
        if (!t.passing()) {
          for (const id of this.lab.agentIds) t.comment(`--- ${id} log (tail) ---\n${this.lab.logTail(id)}`);
        }
      }
    });
  }

  /** Records a measurement and prints it. */
  measure(t: Test, line: string): void {
    this.measured.push(line);
    t.comment(line);
  }

  /** The one data node that both data nodes say is active, each by its own account, once they agree (null if not within `timeoutMs`). */
  singleAgreedActive(timeoutMs: number): Promise<string | null> {
    return until(async () => {
      const [a, b] = [await this.lab.status('fw1'), await this.lab.status('fw2')];
      if (a === null || b === null) return null;
      const actives = [selfRole(a), selfRole(b)].filter((r) => r === 'active').length;
      return actives === 1 && a.active?.node === b.active?.node ? `${a.active?.node}` : null;
    }, timeoutMs);
  }

  /** The last subtest: every measurement of the file in one place. */
  summary(): void {
    t.test('measured', async (t) => {
      for (const line of this.measured) t.comment(line);
      t.pass(`${this.measured.length} measurements`);
    });
  }

  failSetUp(error: string): void {
    t.fail(`set-up: ${error}`);
    for (const id of this.lab.agentIds) t.comment(`--- ${id} log (tail) ---\n${this.lab.logTail(id)}`);
  }
}

/** Milliseconds since `from`, rounded, for messages. */
export function since(from: number): number {
  return Math.round(now() - from);
}
