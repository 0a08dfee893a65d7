import t from 'tap';
import { knownAppliedIndex } from '../../src/node/agent-service.js';

t.test("a member's applied index is the best this node knows of it", async (t) => {
  t.equal(knownAppliedIndex(0, 120), 120, 'a leader just elected (match 0) keeps the last report');
  t.equal(knownAppliedIndex(130, 120), 130, 'an acknowledgement newer than the report wins');
  t.equal(knownAppliedIndex(undefined, 90), 90, 'a follower knows only the report');
  t.equal(knownAppliedIndex(undefined, undefined), 0, 'nothing known yet: 0');
});
