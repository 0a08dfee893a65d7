/**
 * `npm run bench -- raft`: commit latency and throughput of hapair's
 * replicated log against etcd, side by side in one run, both as 3 real
 * processes on loopback with fsync on, both driven by the same client.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { etcdCountKeys, startEtcd } from './lib/etcd.js';
import { startHapair } from './lib/hapair.js';
import { latencySummary, type LoadPlan, type LoadResult } from './lib/load.js';
import { machine, rssMiB } from './lib/proc.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

interface SystemResult {
  seqP50Ms: number;
  seqP99Ms: number;
  seqMaxMs: number;
  throughputOps: number;
  idleRssMiB: number;
}

/** Rounds per system, alternating which runs first; latencies are pooled over them. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_ROUNDS must be an integer >= 1, got ${process.env.BENCH_ROUNDS}`);

const PLAN: LoadPlan = {
  // Long enough for the agents' JIT to settle (docs/benchmarks.md): after 200
  // proposals V8 was still optimizing the hot path during the measurement.
  warmup: Number(process.env.BENCH_WARMUP ?? 5000),
  sequential: Number(process.env.BENCH_SEQUENTIAL ?? 2000),
  inFlight: 32,
  throughputMs: Number(process.env.BENCH_THROUGHPUT_MS ?? 10_000),
};

async function client(kind: 'etcd' | 'hapair', round: number, url: string, token?: string): Promise<LoadResult> {
  const args = JSON.stringify({ ...PLAN, kind, round, url, ...(token === undefined ? {} : { token }) });
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'client.ts'), args], {
    // Every sequential latency comes back (about 8 bytes each).
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as LoadResult;
}

async function idleRss(pids: readonly number[]): Promise<number> {
  await new Promise((r) => setTimeout(r, 2000));
  const each = pids.map(rssMiB);
  return Math.round((each.reduce((a, b) => a + b, 0) / each.length) * 10) / 10;
}

/** One round of one system: a fresh cluster, warmed up, measured, checked, stopped. */
interface Round {
  readonly load: LoadResult;
  readonly idleRssMiB: number;
}

async function benchEtcd(round: number): Promise<Round> {
  const etcd = await startEtcd();
  try {
    const idleRssMiB = await idleRss(etcd.processes.map((p) => p.child.pid ?? 0));
    const leader = await etcd.leaderUrl();
    const load = await client('etcd', round, leader);
    for (const url of etcd.clientUrls) {
      const count = await waitForCount(() => etcdCountKeys(url), load.acknowledged);
      if (count !== load.acknowledged) {
        throw new Error(`etcd member ${url} holds ${count} of ${load.acknowledged} acknowledged keys`);
      }
    }
    return { load, idleRssMiB };
  } finally {
    await etcd.close();
  }
}

async function benchHapair(round: number): Promise<Round> {
  const cluster = await startHapair();
  try {
    const idleRssMiB = await idleRss(cluster.pids());
    const leader = await cluster.leaderApiUrl();
    const load = await client('hapair', round, leader, cluster.token);
    await cluster.verifyAcknowledged(load.acknowledged);
    return { load, idleRssMiB };
  } finally {
    await cluster.close();
  }
}

async function waitForCount(count: () => Promise<number>, want: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let got = await count();
  while (got < want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    got = await count();
  }
  return got;
}

/**
 * The rounds of one system as one result: latency percentiles over every
 * round's sequential proposals together, throughput and idle RSS averaged.
 */
function pooled(rounds: readonly Round[]): SystemResult {
  const all = rounds.flatMap((r) => r.load.seqLatenciesMs).sort((a, b) => a - b);
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    ...latencySummary(all),
    throughputOps: Math.round(mean(rounds.map((r) => r.load.throughputOps))),
    idleRssMiB: Math.round(mean(rounds.map((r) => r.idleRssMiB)) * 10) / 10,
  };
}

function perRound(r: Round): SystemResult {
  return { ...latencySummary(r.load.seqLatenciesMs), throughputOps: r.load.throughputOps, idleRssMiB: Math.round(r.idleRssMiB * 10) / 10 };
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

export async function runRaftBench(): Promise<void> {
  await run('npx', ['tsc', '-p', join(here, '..', 'tsconfig.build.json')]);
  process.stdout.write(
    `raft bench: ${ROUNDS} rounds; in each, per system, ${PLAN.warmup} warm-up and ${PLAN.sequential} sequential proposals, ` +
      `then ${PLAN.inFlight} in flight for ${PLAN.throughputMs} ms\n`,
  );
  const rounds: { hapair: Round; etcd: Round }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating which runs first: a slow stretch of the machine falls on both systems, not on whichever always runs second.
    const order: readonly ('hapair' | 'etcd')[] = i % 2 === 0 ? ['hapair', 'etcd'] : ['etcd', 'hapair'];
    const got: Partial<Record<'hapair' | 'etcd', Round>> = {};
    for (const system of order) {
      got[system] = system === 'hapair' ? await benchHapair(i + 1) : await benchEtcd(i + 1);
      const r = perRound(got[system]);
      process.stdout.write(`  round ${i + 1} ${system.padEnd(6)} p50 ${r.seqP50Ms} p99 ${r.seqP99Ms} max ${r.seqMaxMs} ms, ${r.throughputOps} ops/s\n`);
    }
    rounds.push({ hapair: got.hapair as Round, etcd: got.etcd as Round });
  }
  const hapair = pooled(rounds.map((r) => r.hapair));
  const etcd = pooled(rounds.map((r) => r.etcd));
  const result = {
    when: new Date().toISOString(),
    machine: machine(),
    hapair,
    etcd,
    ratio: {
      seqP50: ratio(hapair.seqP50Ms, etcd.seqP50Ms),
      seqP99: ratio(hapair.seqP99Ms, etcd.seqP99Ms),
      throughput: ratio(hapair.throughputOps, etcd.throughputOps),
    },
  };
  const out = join(here, 'results', 'raft.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  // Each round on its own beside the pooled figures of raft.json (whose shape is fixed by the issue).
  const roundsOut = join(here, 'results', 'raft-rounds.json');
  const roundRows = rounds.map((r, i) => {
    const h = perRound(r.hapair);
    const e = perRound(r.etcd);
    return { round: i + 1, hapair: h, etcd: e, ratio: { seqP50: ratio(h.seqP50Ms, e.seqP50Ms), seqP99: ratio(h.seqP99Ms, e.seqP99Ms), throughput: ratio(h.throughputOps, e.throughputOps) } };
  });
  writeFileSync(roundsOut, `${JSON.stringify({ when: result.when, rounds: roundRows }, null, 2)}\n`);
  const row = (name: string, r: SystemResult): string =>
    `${name.padEnd(8)} ${String(r.seqP50Ms).padStart(8)} ${String(r.seqP99Ms).padStart(8)} ${String(r.seqMaxMs).padStart(8)} ${String(r.throughputOps).padStart(10)} ${String(r.idleRssMiB).padStart(8)}`;
  process.stdout.write(
    [
      `${'system'.padEnd(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'ops/s'.padStart(10)} ${'RSS MiB'.padStart(8)}`,
      row('hapair', hapair),
      row('etcd', etcd),
      `ratio hapair/etcd: p50 ${result.ratio.seqP50}, p99 ${result.ratio.seqP99}, throughput ${result.ratio.throughput}` +
        ` (latencies over all ${ROUNDS * PLAN.sequential} sequential proposals of each system; throughput and RSS: the rounds' mean)`,
      `written to ${out} and ${roundsOut}`,
      '',
    ].join('\n'),
  );
}
