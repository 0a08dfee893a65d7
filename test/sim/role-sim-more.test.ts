import t from 'tap';
import { runRoleCiSlice } from './ci.js';

// The other half of the role budget (role-sim.test.ts runs seeds 1..650).
t.test('role seeds 651..1300', (t) => {
  runRoleCiSlice(t, { from: 651, seeds: 650 });
  t.end();
});
