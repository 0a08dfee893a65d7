import t from 'tap';
import { warmUpRaftCore } from '../../src/raft/warm-up.js';
import { roundTripMessages } from '../../src/transport/frame.js';

t.test('the start-up warm-up runs an election, replication and a leadership transfer to the end', async (t) => {
  const result = warmUpRaftCore();
  t.equal(result.leader, 'warm-b', 'leadership was handed from the first leader to warm-b');
  const [a, b, c] = result.applied;
  t.ok(a !== undefined && a === b && b === c, `every core applied the same entries (${result.applied.join(', ')})`);
  t.ok((a ?? 0) >= 2 * 50 + 2, 'at least both leaders\' noops and the 2 x 50 proposals');
  t.same(warmUpRaftCore(), result, 'deterministic: a fixed seed, nothing from outside');
});

t.test('through the peer transport\'s codec (as the agent runs it), the warm-up ends the same way', async (t) => {
  let relayed = 0;
  const result = warmUpRaftCore((messages) => {
    relayed += messages.length;
    return roundTripMessages(messages);
  });
  t.same(result, warmUpRaftCore(), 'every message survived the round trip');
  t.ok(relayed > 300, `${relayed} messages went through the codec`);
});
