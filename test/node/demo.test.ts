import t from 'tap';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { runDemo } from '../../src/demo/demo.js';

t.test('the demo runs to the end: failover, failback, and leaves nothing behind', async (t) => {
  const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('hapair-demo-')));
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const code = await runDemo(out);
  t.equal(code, 0, text);
  t.match(text, /failover: fw2 is active \(epoch \d+, reason failover\) \d+ ms after the kill/);
  t.match(text, /failback: fw1 is active again \(epoch \d+, reason failback\)/);
  const epochs = [...text.matchAll(/active (?:fw1|fw2), epoch (\d+)/g)].map((m) => Number(m[1]));
  t.ok(epochs.length >= 3, 'status was shown at each step');
  t.ok(epochs.every((e, i) => i === 0 || e >= (epochs[i - 1] ?? 0)), `epochs never go back: ${epochs.join(', ')}`);
  const after = readdirSync(tmpdir()).filter((f) => f.startsWith('hapair-demo-') && !before.has(f));
  t.same(after, [], 'the temporary directory is removed');
});
