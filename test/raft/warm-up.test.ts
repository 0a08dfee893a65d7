import t from 'tap';
import { warmUpRaftCore } from '../../src/raft/warm-up.js';

t.test('the start-up warm-up runs an election, replication and a leadership transfer to the end', async (t) => {
  const result = warmUpRaftCore();
  t.equal(result.leader, 'warm-b', 'leadership was handed from the first leader to warm-b');
  const [a, b, c] = result.applied;
  t.ok(a !== undefined && a === b && b === c, `every core applied the same entries (${result.applied.join(', ')})`);
  t.ok((a ?? 0) >= 2 * 50 + 2, 'at least both leaders\' noops and the 2 x 50 proposals');
  t.same(warmUpRaftCore(), result, 'deterministic: a fixed seed, nothing from outside');
});
