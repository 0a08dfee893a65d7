/**
 * End to end, the monitors (issue 5, R4 and R10), from the client's side:
 * the same lab and probe as failover.test.ts, with monitors in the
 * replicated settings:
 *
 * - `fwd`, a process monitor on a pid file in each node's own run
 *   directory, naming a process the test starts in that node's namespace;
 * - `upstream`, a ping of the `gw` host (the upstream router);
 * - `sees-fw1` / `sees-fw2`, pings of each data node's address `of` that
 *   node (R10's monitored address), run by the other nodes only.
 *
 * R4: killing fwd on the active, or cutting the active alone from gw, moves
 * the role to fw2; repairing it brings it back (auto failback). R10: with
 * fw2's monitor of fw1 down (ICMP between them dropped, Raft still fine), a
 * resource failure on fw1 does not move the role; a switchover still does.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import {
  E2eCluster,
  firstAnswerFrom,
  HOLD_DOWN_MS,
  hosts,
  monitorDetectBoundMs,
  PLANNED_MOVE_BOUND_MS,
  settings,
  skipWithoutLab,
  STABLE_ANSWERS,
  type DataNode,
  type MonitorTimers,
} from './cluster.js';
import { ADDR, E2eLab, now, sleep, until } from './lab.js';
import { between, describe, interleaving, longestGap } from './probe.js';

await skipWithoutLab();

const lab = new E2eLab();
const cluster = new E2eCluster(lab);

/** The process monitor reads a file: cheap, so a short interval. */
const FWD: MonitorTimers = { intervalMs: 200, timeoutMs: 200, failAfter: 2, recoverAfter: 2 };
/** A ping spawns a process; three misses in a row before down, so a slow spawn on a loaded machine is not a failure. */
const PING: MonitorTimers = { intervalMs: 300, timeoutMs: 300, failAfter: 3, recoverAfter: 2 };

const MONITORS = [
  { name: 'fwd', kind: 'process', pidFile: join(lab.runDir, 'fwd.pid'), ...FWD },
  { name: 'upstream', kind: 'ping', target: ADDR.gw, ...PING },
  { name: 'sees-fw1', kind: 'ping', target: ADDR.fw1, of: 'fw1', ...PING },
  { name: 'sees-fw2', kind: 'ping', target: ADDR.fw2, of: 'fw2', ...PING },
];
/** What each data node runs (never its monitor of itself) and reports. */
const RUNS: Record<DataNode, string[]> = { fw1: ['fwd', 'sees-fw2', 'upstream'], fw2: ['fwd', 'sees-fw1', 'upstream'] };

/** From a fault to the role moving: the monitor's detection, then a planned move (the leader acts on its own health at once). */
const moveBoundMs = (m: MonitorTimers): number => monitorDetectBoundMs(m) + PLANNED_MOVE_BOUND_MS;

const daemons = new Map<DataNode, ChildProcess>();

/** Starts the monitored daemon in `node`'s namespace and writes its pid file in that node's run directory. */
function startFwd(node: DataNode): void {
  const child = lab.spawnIn(node, ['sleep', '3600']);
  if (child.pid === undefined) throw new Error(`could not start fwd in ${node}`);
  writeFileSync(join(lab.runDirOf(node), 'fwd.pid'), `${child.pid}\n`);
  daemons.set(node, child);
}

/** Kills it and waits until it is reaped, so that its pid no longer answers signal 0. */
async function killFwd(node: DataNode): Promise<void> {
  const child = daemons.get(node);
  if (child === undefined) throw new Error(`fwd was never started in ${node}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** The monitors `node` last reported, as `name=state`, sorted; null when the observer does not answer. */
async function reported(observer: DataNode, node: DataNode): Promise<string[] | null> {
  const s = await cluster.status(observer);
  const m = s?.members.find((x) => x.id === node);
  return m === undefined ? null : (m.monitors ?? []).map((x) => `${x.name}=${x.state}`).sort();
}

/** Both data nodes healthy with every monitor they run up, as seen from fw1 and fw2. */
async function allUp(t: Test, timeoutMs: number): Promise<boolean> {
  let last = '';
  const ok = await until(async () => {
    const views: string[] = [];
    for (const observer of ['fw1', 'fw2'] as const) {
      for (const node of ['fw1', 'fw2'] as const) {
        const got = await reported(observer, node);
        views.push(`${observer} sees ${node}: ${got?.join(' ') ?? 'no answer'}`);
        if (got === null || got.join(' ') !== RUNS[node].map((n) => `${n}=up`).join(' ')) {
          last = views.join('; ');
          return false;
        }
      }
    }
    return true;
  }, timeoutMs, 100);
  if (ok === null) t.comment(`monitors not all up: ${last}`);
  return ok !== null;
}

/** A moved role as the new holder reports it. */
async function activeOn(id: DataNode): Promise<{ node: string; epoch: number; reason: string } | null> {
  return (await cluster.status(id))?.active ?? null;
}

// --- set-up --------------------------------------------------------------------------

const setupError = await (async (): Promise<string | null> => {
  const base = await cluster.setUp(settings());
  if (base !== null) return base;
  startFwd('fw1');
  startFwd('fw2');
  return cluster.putConfig(settings({ monitors: MONITORS }));
})();

if (setupError !== null) {
  cluster.failSetUp(setupError);
} else {
  cluster.scenario('the monitors run where they should: every node reports its own and its monitor of the other, all up', async (t) => {
    t.ok(await allUp(t, 20_000), `fw1 reports ${RUNS.fw1.join(', ')}; fw2 reports ${RUNS.fw2.join(', ')}; all up`);
  });

  /** R4 on fw1: `fault` breaks a monitored thing, `repair` fixes it; the role must go to fw2 and come back. */
  async function resourceFailure(t: Test, m: MonitorTimers, what: string, fault: () => Promise<void>, repair: () => Promise<void>): Promise<void> {
    if (!(await cluster.ensureActive(t, 'fw1'))) return;
    if (!(await allUp(t, 15_000))) {
      t.fail('precondition: all monitors up');
      return;
    }
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const faultAt = now();
    await fault();
    const bound = moveBoundMs(m);
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, faultAt, bound + 5000);
    const moved = await activeOn('fw2');
    const fw1Self = await cluster.status('fw1');
    const repairAt = now();
    await repair();
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, repairAt, 30_000);
    const returned = await activeOn('fw1');
    const rows = await probe.stop();
    t.comment(describe(rows, faultAt));

    t.ok(took, `fw2 answers after ${what}`);
    t.equal(moved?.node, 'fw2', 'fw2 holds the role');
    t.equal(moved?.reason, 'resource-failure', 'granted for a resource failure');
    t.equal(fw1Self?.members.find((x) => x.id === 'fw1')?.health, 'failed', 'fw1 reports failed health');
    t.ok(fw1Self?.conditions.some((c) => c.code === 'MEMBER_UNHEALTHY'), 'MEMBER_UNHEALTHY is raised');
    const firstFw2 = firstAnswerFrom(rows, 'fw2', faultAt);
    const tookMs = firstFw2 === null ? Infinity : firstFw2 - faultAt;
    t.ok(tookMs < bound, `fw2 answered ${Math.round(tookMs)} ms after the fault (< ${bound} ms: detection ${monitorDetectBoundMs(m)} + a planned move ${PLANNED_MOVE_BOUND_MS})`);
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'fw1, fw2, then fw1 again once repaired');
    // fw1 can come back no sooner than the failback hold-down after it left: a quicker return would be two hosts answering.
    t.equal(interleaving(rows, HOLD_DOWN_MS), null, 'never both answering');
    const outage = longestGap(between(rows, 0, repairAt)).ms;
    t.ok(outage < PLANNED_MOVE_BOUND_MS, `outage ${Math.round(outage)} ms < ${PLANNED_MOVE_BOUND_MS} ms: fw1 answers until it hands over`);
    t.ok(back, 'fw1 answers again after the repair');
    t.equal(returned?.reason, 'failback', 'the role returned by failback');
    const postRepair = longestGap(between(rows, repairAt)).ms;
    t.ok(postRepair < PLANNED_MOVE_BOUND_MS, `failback outage ${Math.round(postRepair)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    cluster.measure(t, `R4 ${what}: fw2 answered ${Math.round(tookMs)} ms after the fault, outage ${Math.round(outage)} ms; failback outage ${Math.round(postRepair)} ms`);
  }

  cluster.scenario('R4: the monitored process killed on the active: the role moves to fw2, and back once it runs again', async (t) => {
    await resourceFailure(
      t,
      FWD,
      'fwd killed on fw1',
      () => killFwd('fw1'),
      async () => startFwd('fw1'),
    );
  });

  cluster.scenario("R4: the active's upstream path lost (fw1 alone cut from gw): the role moves to fw2, and back once healed", async (t) => {
    t.teardown(() => lab.heal());
    await resourceFailure(
      t,
      PING,
      'fw1 cut from gw',
      () => lab.partition('fw1', 'gw'),
      () => lab.heal(),
    );
  });

  cluster.scenario("R10: fw2's monitor of fw1 is down: a resource failure on fw1 does not move the role; a switchover still does", async (t) => {
    t.teardown(async () => {
      await lab.heal();
      startFwd('fw1');
    });
    if (!(await cluster.ensureActive(t, 'fw1'))) return;
    if (!(await allUp(t, 15_000))) {
      t.fail('precondition: all monitors up');
      return;
    }
    // Only ICMP between fw1 and fw2: the monitored path is lost, the Raft path is not.
    await lab.partition('fw1', 'fw2', { icmpOnly: true });
    const blind = await until(async () => {
      const got = await reported('fw1', 'fw2');
      return got?.includes('sees-fw1=down') === true ? got : null;
    }, monitorDetectBoundMs(PING) + 5000);
    const before = await cluster.status('fw1');
    const fw2Seen = before?.members.find((m) => m.id === 'fw2');
    t.ok(blind, `fw2 reports its monitor of fw1 down (${blind?.join(' ') ?? 'not seen'})`);
    t.ok(fw2Seen?.reachable === true && fw2Seen.health === 'healthy', 'fw2 is still reachable and healthy (a monitor of another node is not its own health)');
    if (blind === null) return;

    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const killedAt = now();
    await killFwd('fw1');
    const guarded = await until(async () => {
      const s = await cluster.status('fw1');
      return s?.conditions.find((c) => c.code === 'GUARDED_TAKEOVER') ?? null;
    }, monitorDetectBoundMs(FWD) + 5000);
    // Unguarded, the role would have moved within this bound (the R4 scenario above asserts it).
    const bound = moveBoundMs(FWD);
    await sleep(Math.max(0, killedAt + bound - now()));
    const stayed = await cluster.status('fw1');
    const switchAt = now();
    const moved = await cluster.switchover('fw2');
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, switchAt, 15_000);
    const after = await activeOn('fw2');
    const rows = await probe.stop();
    t.comment(describe(rows, killedAt));

    t.ok(guarded, `GUARDED_TAKEOVER on fw1: ${guarded?.message ?? '(not raised)'}`);
    t.match(guarded?.message ?? '', /fw2 reports that it cannot reach fw1 \(its monitor of fw1 \(sees-fw1\) is down\)/, 'naming the monitor');
    t.equal(stayed?.members.find((m) => m.id === 'fw1')?.health, 'failed', 'fw1 reports failed health');
    t.equal(stayed?.active?.node, 'fw1', `fw1 still holds the role ${Math.round(bound)} ms after the failure`);
    t.same(hosts(between(rows, 0, switchAt)), ['fw1'], `only fw1 answered until the switchover (${Math.round(switchAt - killedAt)} ms after the failure)`);
    t.equal(moved.status, 200, `a switchover to fw2 still works: ${JSON.stringify(moved.body)}`);
    t.ok(took, 'fw2 answers after the switchover');
    t.equal(after?.reason, 'switchover', 'granted by the switchover');
    t.same(hosts(rows), ['fw1', 'fw2'], 'one handover');
    t.equal(interleaving(rows, 2000), null, 'never both answering');
    const outage = longestGap(between(rows, switchAt)).ms;
    t.ok(outage < PLANNED_MOVE_BOUND_MS, `switchover outage ${Math.round(outage)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    cluster.measure(t, `R10: role kept on failed fw1 for ${Math.round(switchAt - killedAt)} ms (guarded); switchover outage ${Math.round(outage)} ms`);
  });

  cluster.summary();
}
