/**
 * `npm run bench -- failover`: the client-visible outage of hapair against
 * keepalived, side by side in one run, in the end-to-end lab of network
 * namespaces (test/e2e/lab.ts), with the same client probe (a UDP datagram
 * to the VIP every 2 ms, test/e2e/probe.ts) for both systems.
 *
 * Each system gets its own lab (namespaces, addresses and VIP as in the e2e
 * tests) per timer profile, so nothing one leaves behind (hapair's fence
 * tables, keepalived's addresses) touches the other. Scenarios and profiles:
 * docs/benchmarks.md. Needs root.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TIMER_PROFILES } from '../src/fsm/settings.js';
import { cliCommand, DEV, E2eLab, labUnavailable, now, PREFIX_LEN, sleep, until, VIP, type RunningProbe, type StatusView } from '../test/e2e/lab.js';
import { between, hostRuns, type ProbeRow } from '../test/e2e/probe.js';
import {
  answeringIntervals,
  crashBreakdown,
  failoverResult,
  handoverAt,
  formatTable,
  longestSendGapMs,
  median,
  outageMs,
  overlapMs,
  type Breakdown,
  type PartitionSample,
} from './lib/failover-analysis.js';
import { describeProfile, KEEPALIVED_PROFILES, KeepalivedPair, keepalivedMissing, type KeepalivedProfile } from './lib/keepalived.js';
import { machine } from './lib/proc.js';

const here = dirname(fileURLToPath(import.meta.url));

const RUNS = Number(process.env['BENCH_FAILOVER_RUNS'] ?? 5);
const PARTITION_MS = Number(process.env['BENCH_PARTITION_MS'] ?? 10_000);
const PROBE_EVERY_MS = 2;
/** Answers from the new host that count as "it carries the traffic": 200 ms of probes. */
const STABLE_ANSWERS = 100;
/** The longest a run waits for the new host before counting the whole wait as outage. */
const TAKEOVER_TIMEOUT_MS = 20_000;
/** After a heal, how long to keep watching for a blackhole (keepalived's lasted up to 48 s in the issue's lab). */
const POST_HEAL_WATCH_MAX_MS = 90_000;
/** Gaps shorter than this between answers of a pinned probe still count as "this host answers". */
const ANSWERING_GAP_MS = 50;

type DataNode = 'fw1' | 'fw2';
const other = (n: DataNode): DataNode => (n === 'fw1' ? 'fw2' : 'fw1');

/** What the scenarios need from a system; hapair and keepalived differ only here. */
interface SystemUnderTest {
  readonly lab: E2eLab;
  /** One heartbeat / advert cycle: faults are injected at a random phase of it. */
  readonly cycleMs: number;
  /** Waits until `active` holds the VIP and the other node stands by (or is stopped, with `otherDown`). */
  ready(active: DataNode, otherDown?: boolean): Promise<void>;
  /** Host failure: the cable pulled, then the process killed. */
  crash(node: DataNode): Promise<void>;
  /** The failed host comes back as after a reboot: no VIP left, cable in, software started. */
  recover(node: DataNode): Promise<void>;
  close(): Promise<void>;
}

// --- measuring --------------------------------------------------------------------

interface Window {
  readonly rows: ProbeRow[];
  /** When the fault or action began (Unix ms, the probe's clock). */
  readonly at: number;
  readonly reached: boolean;
  readonly firstAnswerFrom: number | null;
}

/**
 * One measured run: a client probe every 2 ms, answers from `from` first,
 * then `act` at a random phase of the cycle, then wait until `to` has
 * answered STABLE_ANSWERS probes sent after it.
 */
async function measure(lab: E2eLab, o: { from: DataNode; to: DataNode; cycleMs: number; act: () => Promise<void>; timeoutMs?: number }): Promise<Window> {
  const probe = await lab.startProbe({ everyMs: PROBE_EVERY_MS, maxMs: 180_000 });
  try {
    if (!(await probe.waitAnswers(o.from, 50, probe.startedAt, 5000))) throw new Error(`${o.from} does not answer the client before the run`);
    await sleep(Math.random() * o.cycleMs);
    const at = now();
    await o.act();
    const reached = await probe.waitAnswers(o.to, STABLE_ANSWERS, at, o.timeoutMs ?? TAKEOVER_TIMEOUT_MS);
    const rows = await probe.stop();
    const first = rows.find((r) => r.sentAt >= at && r.hosts.includes(o.to));
    return { rows, at, reached, firstAnswerFrom: first?.sentAt ?? null };
  } finally {
    await probe.stop();
  }
}

/** The longest pause of the client probe itself in any measured window (a loaded machine). */
let probeStallMaxMs = 0;

function noteStall(rows: readonly ProbeRow[], from: number): number {
  const stall = longestSendGapMs(rows, from);
  probeStallMaxMs = Math.max(probeStallMaxMs, stall);
  return stall;
}

function runLine(what: string, i: number, w: Window, outage: number, extra = ''): void {
  const runs = hostRuns(between(w.rows, w.at - 50)).map((r) => r.host).join('>');
  const stall = noteStall(w.rows, w.at - 50);
  process.stdout.write(`  ${what} run ${i + 1}: outage ${Math.round(outage)} ms (${runs}${w.reached ? '' : ', NOT RECOVERED'}; probe paused up to ${Math.round(stall)} ms)${extra}\n`);
}

async function crashRuns(sut: SystemUnderTest, label: string, breakdown?: (w: Window) => Breakdown | null): Promise<{ outages: number[]; breakdowns: (Breakdown | null)[] }> {
  const outages: number[] = [];
  const breakdowns: (Breakdown | null)[] = [];
  for (let i = 0; i < RUNS; i++) {
    await sut.ready('fw1');
    const w = await measure(sut.lab, { from: 'fw1', to: 'fw2', cycleMs: sut.cycleMs, act: () => sut.crash('fw1') });
    const outage = outageMs(w.rows, w.at);
    outages.push(outage);
    const b = breakdown?.(w) ?? null;
    breakdowns.push(b);
    runLine(label, i, w, outage, breakdownText(b));
    if (!w.reached) {
      for (const id of sut.lab.agentIds) process.stdout.write(`--- ${id} log (tail) ---\n${sut.lab.logTail(id, 6000)}\n`);
    }
    await sut.recover('fw1');
  }
  return { outages, breakdowns };
}

/**
 * A 10 s partition between fw1 and fw2 (both still reach the witness and the
 * clients), then heal. Two probes pinned to each host's MAC tell when both
 * answered; the client probe tells how long it waited after the heal.
 */
async function partitionRuns(sut: SystemUnderTest, label: string): Promise<PartitionSample[]> {
  const samples: PartitionSample[] = [];
  const lab = sut.lab;
  for (let i = 0; i < RUNS; i++) {
    await sut.ready('fw1');
    const client = await lab.startProbe({ everyMs: PROBE_EVERY_MS, maxMs: 180_000 });
    const viaFw1 = await lab.startProbe({ from: 'peek', everyMs: PROBE_EVERY_MS, maxMs: 180_000, viaMac: lab.mac('fw1') });
    const viaFw2 = await lab.startProbe({ from: 'peek2', everyMs: PROBE_EVERY_MS, maxMs: 180_000, viaMac: lab.mac('fw2') });
    try {
      if (!(await client.waitAnswers('fw1', 50, client.startedAt, 5000))) throw new Error('fw1 does not answer the client before the partition');
      await sleep(Math.random() * sut.cycleMs);
      const cutAt = now();
      await lab.partition('fw1', 'fw2');
      await sleep(Math.max(0, cutAt + PARTITION_MS - now()));
      await lab.heal();
      const healAt = now();
      await waitRecovered(client, healAt);
      const [rows, rows1, rows2] = [await client.stop(), await viaFw1.stop(), await viaFw2.stop()];
      const dual = overlapMs(
        answeringIntervals(between(rows1, cutAt), ANSWERING_GAP_MS, PROBE_EVERY_MS),
        answeringIntervals(between(rows2, cutAt), ANSWERING_GAP_MS, PROBE_EVERY_MS),
      );
      const postHeal = outageMs(rows, healAt, 0);
      samples.push({ dualVipMs: dual, postHealBlackholeMs: postHeal });
      const runs = hostRuns(between(rows, cutAt)).map((r) => r.host).join('>');
      const stall = noteStall(rows, healAt);
      process.stdout.write(
        `  ${label} run ${i + 1}: two hosts answering ${Math.round(dual)} ms, longest client wait after heal ${Math.round(postHeal)} ms (client: ${runs}; probe paused up to ${Math.round(stall)} ms after the heal)\n`,
      );
    } finally {
      await Promise.all([client.stop(), viaFw1.stop(), viaFw2.stop()]);
      await lab.heal();
      for (const host of ['peek', 'peek2'] as const) await lab.exec(host, ['ip', 'neigh', 'del', VIP, 'dev', DEV]);
    }
  }
  return samples;
}

/** After a heal: at least 3 s, then until the client has had answers for a second without a break (or the watch ends). */
async function waitRecovered(client: RunningProbe, healAt: number): Promise<void> {
  await sleep(3000);
  await until(
    async () => {
      const last = client.lastAnswerFrom('fw1') ?? 0;
      const last2 = client.lastAnswerFrom('fw2') ?? 0;
      const latest = Math.max(last, last2);
      const answeredLately = client.countFrom('fw1', now() - 1000) + client.countFrom('fw2', now() - 1000);
      return now() - latest < 50 && answeredLately > (1000 / PROBE_EVERY_MS) * 0.8;
    },
    Math.max(0, healAt + POST_HEAL_WATCH_MAX_MS - now()),
    100,
  );
}

// --- hapair --------------------------------------------------------------------------

interface HapairSettingsOptions {
  readonly timers: { readonly heartbeatMs: number; readonly electionTimeoutMs: number };
  readonly failbackAuto: boolean;
  /** Delays a failback; does not change the outage it causes. */
  readonly holdDownMs: number;
}

function hapairSettings(o: HapairSettingsOptions): Record<string, unknown> {
  return {
    vips: [{ address: `${VIP}/${PREFIX_LEN}`, interface: 'lan' }],
    preferred: 'fw1',
    failback: { auto: o.failbackAuto, holdDownMs: o.holdDownMs },
    timers: o.timers,
    monitors: [],
    // The bench moves the role dozens of times on purpose; damping would (rightly) stop the failbacks.
    flapDamping: { maxMoves: 1000 },
  };
}

function selfRole(s: StatusView | null): string | null {
  return s?.members.find((m) => m.id === s.node)?.role ?? null;
}

class HapairSut implements SystemUnderTest {
  readonly lab = new E2eLab();
  readonly cycleMs: number;

  constructor(private readonly timers: HapairSettingsOptions['timers']) {
    this.cycleMs = timers.heartbeatMs;
  }

  async start(): Promise<void> {
    const lab = this.lab;
    await lab.up();
    for (const host of ['fw1', 'fw2'] as const) await lab.startResponder(host);
    await lab.startApiForwarder();
    for (const id of ['fw1', 'fw2', 'wit'] as const) lab.startAgent(id);
    const leader = await until(async () => (await lab.status('fw1'))?.leader ?? null, 60_000);
    if (leader === null) throw new Error(`hapair: no Raft leader within 60 s\n${lab.logTail('fw1')}`);
    await this.configure({ timers: this.timers, failbackAuto: true, holdDownMs: 1000 });
  }

  async configure(o: HapairSettingsOptions): Promise<void> {
    let last = '';
    const ok = await until(async () => {
      for (const id of ['fw1', 'fw2'] as const) {
        const r = await this.lab.api(id, 'PUT', '/v1/config', hapairSettings(o)).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status === 200) return true;
        last = `${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`;
      }
      return false;
    }, 30_000, 200);
    if (ok === null) throw new Error(`hapair: settings not accepted: ${last}`);
  }

  async ready(active: DataNode, otherDown = false): Promise<void> {
    const lab = this.lab;
    const standby = other(active);
    const agreed = await until(async () => {
      const a = await lab.status(active);
      if (otherDown) return selfRole(a) === 'active' && (await this.answering(active));
      const b = await lab.status(standby);
      return selfRole(a) === 'active' && selfRole(b) === 'standby' && b?.active?.node === active && (b?.members.every((m) => m.reachable) ?? false);
    }, 60_000, 100);
    if (agreed === null) {
      throw new Error(`hapair: ${active} did not become active with ${standby} standby within 60 s\n--- ${active} ---\n${lab.logTail(active)}\n--- ${standby} ---\n${lab.logTail(standby)}`);
    }
    // A moment for the last move's announcements and reports to settle.
    await sleep(500);
  }

  /** Whether the client gets answers from `node` (a short probe). */
  private async answering(node: DataNode): Promise<boolean> {
    const probe = await this.lab.startProbe({ everyMs: PROBE_EVERY_MS, maxMs: 3000 });
    const ok = await probe.waitAnswers(node, 50, probe.startedAt, 2500);
    await probe.stop();
    return ok;
  }

  /** `node` runs again and stands by (caught up, healthy): it is eligible, and the failback hold-down runs. */
  async standingBy(node: DataNode): Promise<void> {
    const ok = await until(async () => selfRole(await this.lab.status(node)) === 'standby', 60_000, 50);
    if (ok === null) throw new Error(`hapair: ${node} did not stand by within 60 s\n${this.lab.logTail(node)}`);
  }

  async crash(node: DataNode): Promise<void> {
    await this.lab.cutCable(node);
    this.lab.signal(node, 'SIGKILL');
    await this.lab.waitExit(node);
  }

  async recover(node: DataNode): Promise<void> {
    await this.lab.exec(node, ['ip', 'addr', 'del', `${VIP}/${PREFIX_LEN}`, 'dev', DEV]);
    await this.lab.plugCable(node);
    this.lab.startAgent(node);
  }

  /** hapair's planned move: POST /v1/switchover on the active. */
  async switchover(from: DataNode, to: DataNode): Promise<void> {
    const r = await this.lab.api(from, 'POST', '/v1/switchover', { to }, 15_000);
    if (r.status !== 200) throw new Error(`hapair: switchover to ${to} refused: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Stops the agent the way systemd does (SIGTERM: it releases the VIPs first). */
  async stopAgent(node: DataNode): Promise<void> {
    this.lab.signal(node, 'SIGTERM');
    if (!(await this.lab.waitExit(node, 15_000))) throw new Error(`hapair: ${node} did not stop within 15 s`);
  }

  breakdown(w: Window): Breakdown | null {
    return crashBreakdown(this.lab.agentLog('fw2'), w.at, w.firstAnswerFrom);
  }

  /** A planned move, timed from the moment the old active released the VIPs and handed leadership over. */
  moveBreakdown(w: Window, from: DataNode, to: DataNode): Breakdown | null {
    const handover = handoverAt(this.lab.agentLog(from), w.at);
    return handover === null ? null : crashBreakdown(this.lab.agentLog(to), handover, w.firstAnswerFrom);
  }

  close(): Promise<void> {
    return this.lab.down();
  }
}

interface HapairDefaultRuns {
  readonly crash: { outages: number[]; breakdowns: (Breakdown | null)[] };
  readonly switchover: number[];
  readonly failback: number[];
  readonly partition: PartitionSample[];
  readonly switchoverBreakdowns: (Breakdown | null)[];
  readonly failbackBreakdowns: (Breakdown | null)[];
}

const breakdownText = (b: Breakdown | null): string => (b === null ? '' : `; ${Object.entries(b).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);

/** Failbacks fw2 -> fw1 after fw1's agent is stopped and started again (automatic failback on). */
async function failbackRuns(sut: HapairSut): Promise<{ outages: number[]; breakdowns: (Breakdown | null)[] }> {
  // The window opens once fw1 stands by again, inside the 3 s hold-down: the
  // move is measured, not the CPU burst of an agent starting on a 2-core box
  // (which stalls the client probe itself).
  await sut.configure({ timers: TIMER_PROFILES.default, failbackAuto: true, holdDownMs: 3000 });
  const outages: number[] = [];
  const breakdowns: (Breakdown | null)[] = [];
  for (let i = 0; i < RUNS; i++) {
    await sut.ready('fw1');
    await sut.stopAgent('fw1');
    await sut.ready('fw2', true);
    sut.lab.startAgent('fw1');
    await sut.standingBy('fw1');
    const w = await measure(sut.lab, { from: 'fw2', to: 'fw1', cycleMs: 0, act: async () => undefined, timeoutMs: 30_000 });
    const outage = outageMs(w.rows, w.at);
    outages.push(outage);
    const b = sut.moveBreakdown(w, 'fw2', 'fw1');
    breakdowns.push(b);
    runLine('hapair failback', i, w, outage, breakdownText(b));
  }
  return { outages, breakdowns };
}

/** Planned switchovers, alternately fw1 -> fw2 and back (automatic failback off). */
async function switchoverRuns(sut: HapairSut): Promise<{ outages: number[]; breakdowns: (Breakdown | null)[] }> {
  await sut.configure({ timers: TIMER_PROFILES.default, failbackAuto: false, holdDownMs: 1000 });
  const outages: number[] = [];
  const breakdowns: (Breakdown | null)[] = [];
  let active: DataNode = 'fw1';
  for (let i = 0; i < RUNS; i++) {
    await sut.ready(active);
    const from = active;
    const to = other(active);
    const w = await measure(sut.lab, { from, to, cycleMs: sut.cycleMs, act: () => sut.switchover(from, to) });
    const outage = outageMs(w.rows, w.at);
    outages.push(outage);
    const b = sut.moveBreakdown(w, from, to);
    breakdowns.push(b);
    runLine(`hapair switchover ${from}->${to}`, i, w, outage, breakdownText(b));
    active = to;
  }
  return { outages, breakdowns };
}

async function benchHapairDefault(): Promise<HapairDefaultRuns> {
  const sut = new HapairSut(TIMER_PROFILES.default);
  try {
    await sut.start();
    const crash = await crashRuns(sut, 'hapair crash (default)', (w) => sut.breakdown(w));

    const failback = await failbackRuns(sut);

    await sut.configure({ timers: TIMER_PROFILES.default, failbackAuto: true, holdDownMs: 1000 });
    const partition = await partitionRuns(sut, 'hapair partition');

    const switchover = await switchoverRuns(sut);
    return { crash, switchover: switchover.outages, failback: failback.outages, partition, switchoverBreakdowns: switchover.breakdowns, failbackBreakdowns: failback.breakdowns };
  } finally {
    await sut.close();
  }
}

/** Only the planned moves (failback, switchover), for work on them: no crash or partition runs. */
async function benchHapairMoves(): Promise<void> {
  const sut = new HapairSut(TIMER_PROFILES.default);
  try {
    await sut.start();
    const failback = await failbackRuns(sut);
    const switchover = await switchoverRuns(sut);
    process.stdout.write(`moves: failback median ${Math.round(median(failback.outages))} ms, switchover median ${Math.round(median(switchover.outages))} ms\n`);
  } finally {
    await sut.close();
  }
}

async function benchHapairFast(): Promise<{ outages: number[]; breakdowns: (Breakdown | null)[] }> {
  const sut = new HapairSut(TIMER_PROFILES.fast);
  try {
    await sut.start();
    return await crashRuns(sut, 'hapair crash (fast)', (w) => sut.breakdown(w));
  } finally {
    await sut.close();
  }
}

// --- keepalived ------------------------------------------------------------------------

class KeepalivedSut implements SystemUnderTest {
  readonly lab = new E2eLab();
  readonly cycleMs: number;
  readonly pair: KeepalivedPair;

  constructor(readonly profile: KeepalivedProfile) {
    this.cycleMs = profile.advertSeconds * 1000;
    this.pair = new KeepalivedPair(this.lab, profile);
  }

  async start(): Promise<void> {
    await this.lab.up();
    for (const host of ['fw1', 'fw2'] as const) await this.lab.startResponder(host);
    for (const node of ['fw1', 'fw2'] as const) {
      this.pair.start(node);
      await this.pair.waitStarted(node);
    }
  }

  private async hasVip(node: DataNode): Promise<boolean> {
    const r = await this.lab.exec(node, ['ip', '-o', 'addr', 'show', 'dev', DEV]);
    return r.stdout.includes(`inet ${VIP}/`);
  }

  async ready(active: DataNode, otherDown = false): Promise<void> {
    const standby = other(active);
    const ok = await until(
      async () => this.pair.isRunning(active) && (otherDown || this.pair.isRunning(standby)) && (await this.hasVip(active)) && !(await this.hasVip(standby)),
      60_000,
      100,
    );
    if (ok === null) {
      throw new Error(`keepalived: ${active} did not become master with ${standby} backup within 60 s\n--- ${active} ---\n${this.pair.logTail(active)}\n--- ${standby} ---\n${this.pair.logTail(standby)}`);
    }
    // The backup must have heard a few adverts since it (re)started, as a hapair standby must have joined.
    await sleep(3 * this.cycleMs + 500);
  }

  async crash(node: DataNode): Promise<void> {
    await this.lab.cutCable(node);
    await this.pair.kill(node);
  }

  async recover(node: DataNode): Promise<void> {
    await this.lab.exec(node, ['ip', 'addr', 'del', `${VIP}/${PREFIX_LEN}`, 'dev', DEV]);
    await this.lab.plugCable(node);
    this.pair.start(node);
    await this.pair.waitStarted(node);
  }

  async close(): Promise<void> {
    await this.pair.stopAll();
    await this.lab.down();
  }
}

async function benchKeepalivedDefault(): Promise<{ crash: number[]; switchover: number[]; failback: number[]; partition: PartitionSample[] }> {
  const sut = new KeepalivedSut(KEEPALIVED_PROFILES.default);
  try {
    await sut.start();
    const crash = (await crashRuns(sut, 'keepalived crash (default)')).outages;
    // keepalived's planned move is a planned stop of the master; its failback is the
    // higher-priority node starting again and preempting.
    const switchover: number[] = [];
    const failback: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await sut.ready('fw1');
      const s = await measure(sut.lab, { from: 'fw1', to: 'fw2', cycleMs: sut.cycleMs, act: () => sut.pair.stop('fw1') });
      switchover.push(outageMs(s.rows, s.at));
      runLine('keepalived planned stop', i, s, switchover[i] ?? 0);
      await sleep(3 * sut.cycleMs);
      const f = await measure(sut.lab, {
        from: 'fw2',
        to: 'fw1',
        cycleMs: sut.cycleMs,
        act: async () => {
          sut.pair.start('fw1');
          await sut.pair.waitStarted('fw1');
        },
      });
      failback.push(outageMs(f.rows, f.at));
      runLine('keepalived failback', i, f, failback[i] ?? 0);
    }
    const partition = await partitionRuns(sut, 'keepalived partition');
    return { crash, switchover, failback, partition };
  } finally {
    await sut.close();
  }
}

async function benchKeepalivedFast(): Promise<number[]> {
  const sut = new KeepalivedSut(KEEPALIVED_PROFILES.fast);
  try {
    await sut.start();
    return (await crashRuns(sut, 'keepalived crash (fast)')).outages;
  } finally {
    await sut.close();
  }
}

// --- the bench -------------------------------------------------------------------------

const timersText = (t: { heartbeatMs: number; electionTimeoutMs: number }): string => `heartbeat ${t.heartbeatMs} ms, election timeout ${t.electionTimeoutMs} ms`;

export async function runFailoverBench(): Promise<void> {
  const why = (await labUnavailable()) ?? keepalivedMissing();
  if (why !== null) {
    process.stderr.write(`failover bench cannot run: ${why}\n`);
    process.exit(1);
  }
  // The agents run what operators run (the built CLI), and log to the µs so that each step can be timed.
  if (!cliCommand().argv.some((a) => a.endsWith('.js'))) {
    process.stdout.write('building dist/ first (npm run build), so that the agents run the built CLI\n');
    const built = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
    if (built.status !== 0) process.exit(1);
  }
  process.env['HAPAIR_LOG_US'] = '1';
  const started = now();
  const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
  process.stdout.write(`failover bench: ${RUNS} runs per system and scenario, partition ${PARTITION_MS} ms, client probe every ${PROBE_EVERY_MS} ms; agents: ${cliCommand().what}\n`);

  // BENCH_FAILOVER_ONLY=hapair-fast,... runs only those parts (while working on one) and writes no result.
  const only = process.env['BENCH_FAILOVER_ONLY']?.split(',').filter((x) => x !== '') ?? [];
  if (only.length > 0) {
    const parts: Record<string, () => Promise<unknown>> = {
      'hapair-default': benchHapairDefault,
      'hapair-fast': benchHapairFast,
      'hapair-moves': benchHapairMoves,
      'keepalived-default': benchKeepalivedDefault,
      'keepalived-fast': benchKeepalivedFast,
    };
    for (const name of only) {
      const part = parts[name];
      if (part === undefined) throw new Error(`BENCH_FAILOVER_ONLY: unknown part ${name} (one of ${Object.keys(parts).join(', ')})`);
      await part();
    }
    process.stdout.write('partial run: no result written\n');
    return;
  }

  const hapairDefault = await benchHapairDefault();
  const hapairFast = await benchHapairFast();
  const keepalivedDefault = await benchKeepalivedDefault();
  const keepalivedFast = await benchKeepalivedFast();

  const result = failoverResult(
    {
      hapair: {
        crashDefault: hapairDefault.crash.outages,
        crashFast: hapairFast.outages,
        switchover: hapairDefault.switchover,
        failback: hapairDefault.failback,
        partition: hapairDefault.partition,
        breakdownDefault: hapairDefault.crash.breakdowns,
        breakdownFast: hapairFast.breakdowns,
        breakdownSwitchover: hapairDefault.switchoverBreakdowns,
        breakdownFailback: hapairDefault.failbackBreakdowns,
      },
      keepalived: {
        crashDefault: keepalivedDefault.crash,
        crashFast: keepalivedFast,
        switchover: keepalivedDefault.switchover,
        failback: keepalivedDefault.failback,
        partition: keepalivedDefault.partition,
      },
    },
    {
      when: new Date().toISOString(),
      machine: machine(),
      runs: RUNS,
      profiles: {
        default: { hapair: timersText(TIMER_PROFILES.default), keepalived: describeProfile(KEEPALIVED_PROFILES.default) },
        fast: { hapair: timersText(TIMER_PROFILES.fast), keepalived: describeProfile(KEEPALIVED_PROFILES.fast) },
      },
      load: { before: loadBefore, after: loadavg().map((x) => Math.round(x * 100) / 100) },
      probeStallMaxMs,
      durationS: Math.round((now() - started) / 1000),
    },
  );
  const out = join(here, 'results', 'failover.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${formatTable(result)}\nwritten to ${out}\n`);
}
