import t from 'tap';
import { nodeVersionProblem } from '../../src/cli/node-version.js';

t.test('Node.js older than 20.12 is refused by name, newer ones pass', async (t) => {
  t.match(nodeVersionProblem('18.19.0'), /needs Node\.js 20\.12 or newer; this is 18\.19\.0/);
  t.match(nodeVersionProblem('20.11.1'), /this is 20\.11\.1/);
  t.equal(nodeVersionProblem('20.12.0'), null);
  t.equal(nodeVersionProblem('20.20.0'), null);
  t.equal(nodeVersionProblem('22.1.0'), null);
  t.equal(nodeVersionProblem(process.versions.node), null, 'the Node running the tests is new enough');
});
