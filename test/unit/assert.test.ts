import t from 'tap';
import { assert, AssertionError } from '../../src/util/assert.js';

t.test('assert throws an AssertionError with the message', async (t) => {
  t.throws(() => assert(false, 'boom'), new AssertionError('boom'));
  t.doesNotThrow(() => assert(1, 'fine'));
});
