/**
 * `npm run sim -- --seeds N [--from S] [--nodes 3] [--witness] [--steps K]
 *   [--liveness L] [--fault NAME] [--sharp] [--role] [--role-fault NAME]
 *   [--verbose] [--stop]`
 *
 * Runs N schedules from seed S, streams a summary line, prints a replay
 * command for every failing seed and exits non-zero on any violation.
 * Wall-clock time is read here only, to report the rate; it never reaches
 * a schedule.
 */
import { parseArgs } from 'node:util';
import { runSchedule } from './cluster.js';
import {
  DEFAULT_RUN,
  FAULT_NAMES,
  replayCommand,
  ROLE_FAULT_NAMES,
  runSeeds,
  scheduleOptions,
  type FaultName,
  type RoleFaultName,
  type RunOptions,
} from './runner.js';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run sim -- --seeds N [--from S] [--nodes 3] [--witness] [--steps TICKS] [--liveness TICKS] [--fault ${FAULT_NAMES.join('|')}] [--sharp]\n` +
      `                      [--role] [--role-fault ${ROLE_FAULT_NAMES.join('|')}] [--verbose] [--stop]\n`,
  );
  process.exit(2);
}

function intOption(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${value}`);
  return n;
}

function parse(): { run: RunOptions; verbose: boolean; stop: boolean } {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      nodes: { type: 'string' },
      witness: { type: 'boolean', default: false },
      steps: { type: 'string' },
      liveness: { type: 'string' },
      fault: { type: 'string' },
      sharp: { type: 'boolean', default: false },
      role: { type: 'boolean', default: false },
      'role-fault': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      stop: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const fault = values.fault ?? null;
  if (fault !== null && !(FAULT_NAMES as readonly string[]).includes(fault)) usage(`unknown --fault ${fault}`);
  const roleFault = values['role-fault'] ?? null;
  if (roleFault !== null && !(ROLE_FAULT_NAMES as readonly string[]).includes(roleFault)) usage(`unknown --role-fault ${roleFault}`);
  if (roleFault !== null && !values.role) usage('--role-fault needs --role');
  const nodesGiven = values.nodes !== undefined;
  const nodes = intOption(values.nodes, 'nodes', values.witness ? 3 : DEFAULT_RUN.nodes, 1);
  if (values.witness && nodes < 2) usage('--witness needs at least 2 nodes');
  const run: RunOptions = {
    from: intOption(values.from, 'from', DEFAULT_RUN.from, 0),
    seeds: intOption(values.seeds, 'seeds', DEFAULT_RUN.seeds, 1),
    nodes,
    shape: values.witness ? 'witness' : nodesGiven ? 'data' : 'mixed',
    faultTicks: intOption(values.steps, 'steps', DEFAULT_RUN.faultTicks, 1),
    livenessTicks: intOption(values.liveness, 'liveness', DEFAULT_RUN.livenessTicks, 1),
    fault: fault as FaultName | null,
    sharp: values.sharp,
    role: values.role,
    roleFault: roleFault as RoleFaultName | null,
  };
  return { run, verbose: values.verbose, stop: values.stop };
}

function main(): void {
  const { run, verbose, stop } = parse();
  const started = Date.now();
  let lastReport = started;
  const rate = (done: number): string => {
    const minutes = (Date.now() - started) / 60_000;
    return minutes > 0 ? `${Math.round(done / minutes)} seeds/min` : '';
  };
  if (verbose) {
    for (let i = 0; i < run.seeds; i++) {
      const seed = run.from + i;
      const result = runSchedule(scheduleOptions(run, seed), (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`seed ${seed}: ${result.violation === null ? 'ok' : `VIOLATION ${result.violation.kind}`} trace ${result.traceHash}\n`);
      if (result.violation?.stack) process.stdout.write(`${result.violation.stack}\n`);
      if (result.violation !== null) process.exitCode = 1;
    }
    return;
  }
  const shape = run.shape === 'mixed' ? (run.role ? '2 data + witness or 3 data' : 'mixed shapes') : `${run.nodes} nodes${run.shape === 'witness' ? ' with witness' : ''}`;
  const extras = `${run.sharp ? ', sharp mix' : ''}${run.fault === null ? '' : `, fault ${run.fault}`}${run.roleFault === null ? '' : `, role fault ${run.roleFault}`}`;
  process.stdout.write(`sim: ${run.seeds} ${run.role ? 'role ' : ''}schedules from seed ${run.from} (${shape}, ${run.faultTicks} fault ticks${extras})\n`);
  const summary = runSeeds(run, (result, s) => {
    if (result.violation !== null && s.violations <= 20) {
      process.stdout.write(`FAIL seed ${result.seed} [${result.shape}] at tick ${result.violation.tick}: ${result.violation.message}\n  replay: ${replayCommand(run, result.seed)}\n`);
    }
    const now = Date.now();
    if (now - lastReport > 5000) {
      lastReport = now;
      process.stdout.write(`.. ${s.line()} | ${rate(s.schedules)}\n`);
    }
    if (stop && result.violation !== null) {
      process.stdout.write(`${s.line()}\n`);
      process.exit(1);
    }
  });
  process.stdout.write(`${summary.line()} | ${rate(summary.schedules)}\n`);
  if (summary.violations > 0) process.exitCode = 1;
}

main();
