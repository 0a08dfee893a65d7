/** Role-change hooks: environment, role filter, timeout kill, and never blocking the caller. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { HookRunner, type HookOutcome } from '../../src/network/hooks.js';

const dir = await mkdtemp(join(tmpdir(), 'hapair-hooks-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('hooks get node, role, epoch and reason; only matching hooks run', async (t) => {
  const outcomes: HookOutcome[] = [];
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const runner = new HookRunner({
    onOutcome: (o) => {
      outcomes.push(o);
      if (outcomes.length === 2) resolveDone();
    },
  });
  const out = join(dir, 'env.txt');
  const gate = join(dir, 'gate');
  runner.setHooks([
    { on: 'active', command: `echo "$HAPAIR_NODE $HAPAIR_ROLE $HAPAIR_EPOCH $HAPAIR_REASON" >> ${out}`, timeoutMs: 5000 },
    { on: 'standby', command: `echo standby >> ${out}`, timeoutMs: 5000 },
    { on: 'any', command: `while [ ! -e ${gate} ]; do sleep 0.01; done; echo any-ran`, timeoutMs: 5000 },
  ]);
  t.equal(runner.fire({ node: 'fw1', role: 'active', epoch: 7, reason: 'failover' }), 2, 'active + any');
  // The `any` hook cannot finish before the gate file exists: fire() returned without waiting for it.
  t.notOk(outcomes.some((o) => o.detail === 'any-ran'), 'fire returned before the hook finished');
  await writeFile(gate, '');
  await done;
  t.equal((await readFile(out, 'utf8')).trim(), 'fw1 active 7 failover');
  t.same(outcomes.map((o) => o.code).sort(), [0, 0]);
  t.ok(outcomes.some((o) => o.detail === 'any-ran'));
});

t.test('a hook that overruns is killed with its children; a fault runs only `any` hooks', async (t) => {
  const outcomes: HookOutcome[] = [];
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  const runner = new HookRunner({ onOutcome: (o) => (outcomes.push(o), resolveDone()) });
  t.teardown(() => runner.killAll());
  runner.setHooks([
    { on: 'active', command: 'exit 0', timeoutMs: 1000 },
    { on: 'any', command: 'sleep 30; echo never', timeoutMs: 200 },
  ]);
  t.equal(runner.fire({ node: 'fw1', role: 'fault', epoch: null, reason: 'monitor upstream down' }), 1);
  await done;
  t.equal(outcomes[0]?.timedOut, true);
  t.equal(outcomes[0]?.code, null);
  t.match(outcomes[0]?.detail, /killed after 200 ms/);
  t.ok((outcomes[0]?.durationMs ?? 0) < 5000);
});

t.test('the number of hooks running at once is bounded', async (t) => {
  const outcomes: HookOutcome[] = [];
  const runner = new HookRunner({ maxRunning: 1, onOutcome: (o) => outcomes.push(o) });
  t.teardown(() => runner.killAll());
  runner.setHooks([
    { on: 'any', command: 'sleep 30', timeoutMs: 100 },
    { on: 'any', command: 'sleep 30', timeoutMs: 100 },
  ]);
  t.equal(runner.fire({ node: 'fw1', role: 'standby', epoch: 1, reason: 'x' }), 1);
  t.equal(runner.skipped, 1);
  t.match(outcomes[0]?.detail, /too many hooks running/);
});
