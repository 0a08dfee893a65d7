/**
 * The client side of the commit benchmarks: the same measurement for every
 * system, so only the system under test differs. `send(i)` performs one
 * proposal and resolves once the system acknowledged it as committed.
 */
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly seqP50Ms: number;
  readonly seqP99Ms: number;
  readonly seqMaxMs: number;
  readonly throughputOps: number;
  /** Keys (proposal numbers) the system acknowledged, for the end-of-run durability check. */
  readonly acknowledged: number;
  /** Every sequential latency, sorted: rounds of a bench are pooled from these. */
  readonly seqLatenciesMs: readonly number[];
}

export interface LoadPlan {
  readonly warmup: number;
  readonly sequential: number;
  readonly inFlight: number;
  readonly throughputMs: number;
}

/**
 * One sequential proposal: when it started (wall clock, and CLOCK_MONOTONIC
 * as `perf record -k monotonic` stamps events) and how long it took. For
 * lining the slow ones up with the servers' traces.
 */
export interface SequentialRecord {
  readonly startedAtMs: number;
  readonly startedMonotonicMs: number;
  readonly latencyMs: number;
}

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const rank = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, rank)] ?? Number.NaN;
}

export async function runLoad(plan: LoadPlan, send: (i: number) => Promise<void>, record?: SequentialRecord[]): Promise<LoadResult> {
  let next = 0;
  for (let i = 0; i < plan.warmup; i++) await send(next++);
  const latencies: number[] = [];
  for (let i = 0; i < plan.sequential; i++) {
    const startedMonotonicMs = Number(process.hrtime.bigint()) / 1e6;
    const t0 = performance.now();
    await send(next++);
    const latencyMs = performance.now() - t0;
    latencies.push(latencyMs);
    if (record !== undefined) record.push({ startedAtMs: performance.timeOrigin + t0, startedMonotonicMs, latencyMs });
  }
  latencies.sort((a, b) => a - b);

  let done = 0;
  const endAt = performance.now() + plan.throughputMs;
  const startedAt = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < endAt) {
      await send(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: plan.inFlight }, worker));
  const elapsedS = (performance.now() - startedAt) / 1000;
  return {
    ...latencySummary(latencies),
    throughputOps: Math.round(done / elapsedS),
    acknowledged: next,
    seqLatenciesMs: latencies.map(roundMs),
  };
}

const roundMs = (x: number): number => Math.round(x * 1000) / 1000;

/** p50, p99 and max of sorted latencies, in ms to the microsecond. */
export function latencySummary(sortedMs: readonly number[]): { seqP50Ms: number; seqP99Ms: number; seqMaxMs: number } {
  return {
    seqP50Ms: roundMs(percentile(sortedMs, 50)),
    seqP99Ms: roundMs(percentile(sortedMs, 99)),
    seqMaxMs: roundMs(sortedMs[sortedMs.length - 1] ?? Number.NaN),
  };
}
