import t from 'tap';
import { runCiSlice } from './ci.js';

// The other half of the CI budget (sim.test.ts runs seeds 1..1000).
t.test('seeds 1001..2000', (t) => {
  runCiSlice(t, { from: 1001, seeds: 1000 });
  t.end();
});
