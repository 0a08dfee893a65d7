/**
 * The runner's scheduling and hysteresis with injected timers and probes:
 * no real time passes, every step is explicit.
 */
import t from 'tap';
import type { MonitorSettings } from '../../src/fsm/settings.js';
import type { ProbeResult } from '../../src/monitor/checks.js';
import { MonitorRunner, type MonitorTransition, type RunnerTimers } from '../../src/monitor/runner.js';

/** Manual timers: advance(ms) fires what is due, in order. */
class FakeTimers implements RunnerTimers {
  now = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.due.delete(h as number);
  }
  pending(): number {
    return this.due.size;
  }
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await flush();
      const next = [...this.due.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (next === undefined || next[1].at > end) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

const cmd = (name: string, over: Partial<MonitorSettings> = {}): MonitorSettings =>
  ({ name, kind: 'command', command: 'true', intervalMs: 100, timeoutMs: 50, failAfter: 2, recoverAfter: 2, of: null, ...over }) as MonitorSettings;

function setup(results: Record<string, (ProbeResult | 'hang')[]>) {
  const timers = new FakeTimers();
  const transitions: MonitorTransition[] = [];
  const calls: Record<string, number[]> = {};
  const aborted: string[] = [];
  const runner = new MonitorRunner({
    interfaces: {},
    timers,
    clock: () => timers.now,
    onTransition: (tr) => transitions.push(tr),
    checkFor: (s) => (signal) => {
      (calls[s.name] ??= []).push(timers.now);
      const next = results[s.name]?.shift() ?? { ok: true, detail: 'ok' };
      if (next === 'hang') {
        signal.addEventListener('abort', () => aborted.push(s.name));
        return new Promise(() => undefined);
      }
      return Promise.resolve(next);
    },
  });
  return { timers, transitions, calls, aborted, runner };
}

const OK: ProbeResult = { ok: true, detail: 'fine' };
const BAD: ProbeResult = { ok: false, detail: 'broken' };

t.test('probes on each interval; hysteresis drives transitions and health', async (t) => {
  const { timers, transitions, calls, runner } = setup({ a: [OK, BAD, BAD, OK, OK] });
  runner.setMonitors([cmd('a')]);
  t.equal(runner.health(), 'unknown', 'unknown before the first probe');
  t.same(runner.observations(), [{ name: 'a', reported: false, healthy: false }]);
  await timers.advance(0);
  t.equal(runner.health(), 'healthy');
  t.same(runner.observations(), [{ name: 'a', reported: true, healthy: true }]);
  await timers.advance(100);
  t.equal(runner.health(), 'healthy', 'one failure is not enough (failAfter 2)');
  await timers.advance(100);
  t.equal(runner.health(), 'failed');
  await timers.advance(100);
  t.equal(runner.health(), 'failed', 'one success is not enough (recoverAfter 2)');
  await timers.advance(100);
  t.equal(runner.health(), 'healthy');
  t.same(calls['a'], [0, 100, 200, 300, 400], 'one probe per interval');
  t.same(
    transitions.map((x) => `${x.from}->${x.to}:${x.detail}`),
    ['unknown->up:fine', 'up->down:broken', 'down->up:fine'],
  );
  runner.stop();
  t.equal(timers.pending(), 0, 'stop clears every timer');
});

t.test('a monitor of another node (R10) is reported but never counts toward health', async (t) => {
  const { timers, runner } = setup({ own: [OK, OK, OK], peer: [BAD, BAD, BAD] });
  runner.setMonitors([cmd('own'), cmd('peer', { of: 'fw1' })]);
  await timers.advance(100);
  t.same(runner.observations(), [
    { name: 'own', reported: true, healthy: true },
    { name: 'peer', reported: true, healthy: false },
  ], 'the monitor of fw1 is down');
  t.equal(runner.health(), 'healthy', 'and this node is still healthy');
  runner.setMonitors([cmd('peer', { of: 'fw1' })]);
  t.equal(runner.health(), 'healthy', 'with only monitors of other nodes, health is healthy');
  runner.stop();
});

t.test('a probe that never answers times out, is aborted, and counts as a failure', async (t) => {
  const { timers, runner, aborted, transitions } = setup({ h: ['hang', 'hang'] });
  runner.setMonitors([cmd('h', { failAfter: 2 })]);
  await timers.advance(50);
  t.same(aborted, ['h'], 'aborted at its timeout');
  t.match(runner.statuses()[0]?.lastDetail, /no answer within 50 ms/);
  await timers.advance(100);
  t.equal(runner.health(), 'failed');
  t.same(transitions.map((x) => x.to), ['down']);
});

t.test('replacing settings keeps unchanged monitors and resets changed ones', async (t) => {
  const { timers, runner, calls } = setup({ a: [OK, OK, OK], b: [BAD, BAD, BAD, BAD] });
  runner.setMonitors([cmd('a'), cmd('b', { failAfter: 1 })]);
  await timers.advance(0);
  t.equal(runner.health(), 'failed');
  runner.setMonitors([cmd('a'), cmd('b', { failAfter: 5 })]);
  t.same(runner.observations(), [
    { name: 'a', reported: true, healthy: true },
    { name: 'b', reported: false, healthy: false },
  ], 'a kept, b starts over');
  runner.setMonitors([cmd('a')]);
  t.equal(runner.health(), 'healthy', 'removed monitor no longer counts');
  await timers.advance(100);
  t.same(calls['a'], [0, 100], 'a kept its schedule');
  t.same(calls['b'], [0], 'the reconfigured b was removed before its next probe: it never ran again');
  runner.stop();
});

t.test('no monitors: healthy', async (t) => {
  const { runner } = setup({});
  runner.setMonitors([]);
  t.equal(runner.health(), 'healthy');
  t.same(runner.observations(), []);
});
