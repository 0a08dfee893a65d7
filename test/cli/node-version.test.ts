import t from 'tap';
import { nodeVersionProblem } from '../../src/cli/node-version.js';

t.test('Node.js without crypto.hash is refused by name, newer ones pass', async (t) => {
  t.match(nodeVersionProblem('18.19.0'), /needs Node\.js 20\.12 or newer \(21\.7 or newer on the 21 line\); this is 18\.19\.0/);
  t.match(nodeVersionProblem('20.11.1'), /this is 20\.11\.1/);
  t.match(nodeVersionProblem('21.6.2'), /this is 21\.6\.2/, '21.0-21.6 have no crypto.hash either');
  t.equal(nodeVersionProblem('20.12.0'), null);
  t.equal(nodeVersionProblem('20.20.0'), null);
  t.equal(nodeVersionProblem('21.7.0'), null);
  t.equal(nodeVersionProblem('22.1.0'), null);
  t.equal(nodeVersionProblem(process.versions.node), null, 'the Node running the tests is new enough');
});
