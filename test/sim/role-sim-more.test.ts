import t from 'tap';
import { runRoleCiSlice } from './ci.js';

// The other half of the role budget (role-sim.test.ts runs seeds 1..400).
t.test('role seeds 401..800', (t) => {
  runRoleCiSlice(t, { from: 401, seeds: 400 });
  t.end();
});
