import t from 'tap';
import { INITIAL_HYSTERESIS, stepHysteresis, type HysteresisState } from '../../src/monitor/hysteresis.js';

function run(results: boolean[], failAfter: number, recoverAfter: number): string[] {
  let s: HysteresisState = INITIAL_HYSTERESIS;
  return results.map((ok) => (s = stepHysteresis(s, ok, { failAfter, recoverAfter })).state);
}

t.test('a new monitor is up at its first success, down after failAfter failures', async (t) => {
  t.same(run([true], 3, 3), ['up']);
  t.same(run([false, false, false], 3, 3), ['unknown', 'unknown', 'down']);
  t.same(run([false, false, true], 3, 3), ['unknown', 'unknown', 'up']);
});

t.test('failAfter consecutive failures take it down; a success in between resets the count', async (t) => {
  t.same(run([true, false, false, true, false, false, false], 3, 2), ['up', 'up', 'up', 'up', 'up', 'up', 'down']);
  t.same(run([true, false], 1, 1), ['up', 'down']);
});

t.test('recoverAfter consecutive successes bring it back', async (t) => {
  t.same(run([true, false, true, false, true, true], 1, 2), ['up', 'down', 'down', 'down', 'down', 'up']);
});
