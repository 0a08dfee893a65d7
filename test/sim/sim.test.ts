import t from 'tap';
import { runSchedule } from './cluster.js';
import { runCiSlice } from './ci.js';
import { DEFAULT_RUN, scheduleOptions } from './runner.js';

t.test('the same seed replays the same trace', (t) => {
  const a = runSchedule(scheduleOptions(DEFAULT_RUN, 4242));
  const b = runSchedule(scheduleOptions(DEFAULT_RUN, 4242));
  const c = runSchedule(scheduleOptions(DEFAULT_RUN, 4243));
  t.equal(a.traceHash, b.traceHash, `trace ${a.traceHash}`);
  t.same(a.stats, b.stats);
  t.not(a.traceHash, c.traceHash, 'another seed gives another trace');
  t.end();
});

// Half of the CI budget; sim-more.test.ts runs the other half in parallel.
t.test('seeds 1..1000', (t) => {
  runCiSlice(t, { from: 1, seeds: 1000 });
  t.end();
});
