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
import type { LoadPlan, LoadResult } from './lib/load.js';
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

const PLAN: LoadPlan = {
  // Long enough for the agents' JIT to settle (docs/benchmarks.md): after 200
  // proposals V8 was still optimizing the hot path during the measurement.
  warmup: Number(process.env.BENCH_WARMUP ?? 5000),
  sequential: Number(process.env.BENCH_SEQUENTIAL ?? 2000),
  inFlight: 32,
  throughputMs: Number(process.env.BENCH_THROUGHPUT_MS ?? 10_000),
};

async function client(kind: 'etcd' | 'hapair', url: string, token?: string): Promise<LoadResult> {
  const args = JSON.stringify({ ...PLAN, kind, url, ...(token === undefined ? {} : { token }) });
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'client.ts'), args], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as LoadResult;
}

async function idleRss(pids: readonly number[]): Promise<number> {
  await new Promise((r) => setTimeout(r, 2000));
  const each = pids.map(rssMiB);
  return Math.round((each.reduce((a, b) => a + b, 0) / each.length) * 10) / 10;
}

async function benchEtcd(): Promise<SystemResult> {
  const etcd = await startEtcd();
  try {
    const idleRssMiB = await idleRss(etcd.processes.map((p) => p.child.pid ?? 0));
    const leader = await etcd.leaderUrl();
    const load = await client('etcd', leader);
    for (const url of etcd.clientUrls) {
      const count = await waitForCount(() => etcdCountKeys(url), load.acknowledged);
      if (count !== load.acknowledged) {
        throw new Error(`etcd member ${url} holds ${count} of ${load.acknowledged} acknowledged keys`);
      }
    }
    return { ...pick(load), idleRssMiB };
  } finally {
    await etcd.close();
  }
}

async function benchHapair(): Promise<SystemResult> {
  const cluster = await startHapair();
  try {
    const idleRssMiB = await idleRss(cluster.pids());
    const leader = await cluster.leaderApiUrl();
    const load = await client('hapair', leader, cluster.token);
    await cluster.verifyAcknowledged(load.acknowledged);
    return { ...pick(load), idleRssMiB };
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

function pick(r: LoadResult): Omit<SystemResult, 'idleRssMiB'> {
  return { seqP50Ms: r.seqP50Ms, seqP99Ms: r.seqP99Ms, seqMaxMs: r.seqMaxMs, throughputOps: r.throughputOps };
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

export async function runRaftBench(): Promise<void> {
  await run('npx', ['tsc', '-p', join(here, '..', 'tsconfig.build.json')]);
  process.stdout.write(`raft bench: ${PLAN.warmup} warm-up and ${PLAN.sequential} sequential proposals, then ${PLAN.inFlight} in flight for ${PLAN.throughputMs} ms\n`);
  const hapair = await benchHapair();
  process.stdout.write('  hapair done\n');
  const etcd = await benchEtcd();
  process.stdout.write('  etcd done\n');
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
  const row = (name: string, r: SystemResult): string =>
    `${name.padEnd(8)} ${String(r.seqP50Ms).padStart(8)} ${String(r.seqP99Ms).padStart(8)} ${String(r.seqMaxMs).padStart(8)} ${String(r.throughputOps).padStart(10)} ${String(r.idleRssMiB).padStart(8)}`;
  process.stdout.write(
    [
      `${'system'.padEnd(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'ops/s'.padStart(10)} ${'RSS MiB'.padStart(8)}`,
      row('hapair', hapair),
      row('etcd', etcd),
      `ratio hapair/etcd: p50 ${result.ratio.seqP50}, p99 ${result.ratio.seqP99}, throughput ${result.ratio.throughput}`,
      `written to ${out}`,
      '',
    ].join('\n'),
  );
}
