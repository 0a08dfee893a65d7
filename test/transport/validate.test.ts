import t from 'tap';
import fc from 'fast-check';
import { parseMessage } from '../../src/transport/validate.js';
import { everyMessage } from './helpers.js';

type Loose = Record<string, unknown>;

function clone(x: unknown): Loose {
  return structuredClone(x) as Loose;
}

function errorOf(x: unknown): string {
  const r = parseMessage(x);
  return r.ok ? '(accepted)' : r.error;
}

const samples = everyMessage('a', 'b');

t.test('every valid message is accepted and comes back equal', async (t) => {
  const types = new Set<string>();
  for (const m of samples) {
    const r = parseMessage(m);
    t.ok(r.ok, `${m.type} accepted`);
    if (r.ok) t.same(r.message, m, `${m.type} unchanged`);
    types.add(m.type);
  }
  t.equal(types.size, 13, 'the samples cover every message type');
});

t.test('a missing or wrongly typed field is refused, naming the field', async (t) => {
  for (const m of samples) {
    for (const key of Object.keys(m)) {
      if (key === 'type') continue;
      const missing = clone(m);
      delete missing[key];
      // Optional on the wire (older nodes do not send it): its own test below.
      if (!(m.type === 'timeoutNow' && key === 'vote')) t.match(errorOf(missing), new RegExp(`^${key}: is missing`), `${m.type}.${key} missing`);
      const wrong = clone(m);
      wrong[key] = { nonsense: true };
      t.match(errorOf(wrong), new RegExp(`^${key}(\\.|:)`), `${m.type}.${key} wrong type`);
    }
  }
});

t.test('numbers must be safe integers in range', async (t) => {
  const bad = [-2, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '3', true, null];
  for (const m of samples) {
    for (const [key, value] of Object.entries(m)) {
      if (typeof value !== 'number') continue;
      for (const v of bad) {
        const x = clone(m);
        x[key] = v;
        t.match(errorOf(x), new RegExp(`^${key}: must be`), `${m.type}.${key} = ${String(v)}`);
      }
    }
  }
  // -1 is meaningful only where the type says so.
  const term = clone(samples[0]);
  term.term = -1;
  t.match(errorOf(term), /^term: must be >= 0, got -1/);
  const offset = clone(samples.find((m) => m.type === 'snapshotResponse'));
  offset.nextOffset = -1;
  t.ok(parseMessage(offset).ok, 'snapshotResponse.nextOffset may be -1');
});

t.test('nested fields are checked and named with their path', async (t) => {
  const append = samples.find((m) => m.type === 'append');
  const snapshot = samples.find((m) => m.type === 'snapshot');
  const cases: Array<[string, (x: Loose) => void, RegExp, unknown]> = [
    ['command data not bytes', (x) => (((x.entries as Loose[])[1] as Loose).payload as Loose).data = [1, 2], /^entries\[1\]\.payload\.data: must be bytes/, append],
    ['unknown payload', (x) => (((x.entries as Loose[])[0] as Loose).payload as Loose).type = 'evil', /^entries\[0\]\.payload\.type: unknown entry payload "evil"/, append],
    ['entry index 0', (x) => ((x.entries as Loose[])[0] as Loose).index = 0, /^entries\[0\]\.index: must be >= 1/, append],
    ['entry term a string', (x) => ((x.entries as Loose[])[2] as Loose).term = '7', /^entries\[2\]\.term: must be an integer/, append],
    ['entries with a gap', (x) => ((x.entries as Loose[])[2] as Loose).index = 14, /^entries\[2\]\.index: must be 13/, append],
    ['entries not after prevIndex', (x) => (x.prevIndex = 3), /^entries\[0\]\.index: must be 4/, append],
    [
      'membership change with an unknown op',
      (x) => ((((x.entries as Loose[])[4] as Loose).payload as Loose).change as Loose).op = 'nuke',
      /^entries\[4\]\.payload\.change\.op: unknown membership change "nuke"/,
      append,
    ],
    [
      'added member with a bad kind',
      (x) => (((((x.entries as Loose[])[3] as Loose).payload as Loose).change as Loose).member as Loose).kind = 'boss',
      /^entries\[3\]\.payload\.change\.member\.kind: must be "data" or "witness"/,
      append,
    ],
    ['voter id empty', (x) => (((x.meta as Loose).membership as Loose).voters as Loose[])[1] = { id: '', kind: 'data', peer: 'h:1' }, /^meta\.membership\.voters\[1\]\.id: must not be empty/, snapshot],
    ['learners missing', (x) => delete ((x.meta as Loose).membership as Loose).learners, /^meta\.membership\.learners: is missing/, snapshot],
    ['chunk beyond totalBytes', (x) => (x.totalBytes = 4096), /^chunk: ends at 74096, beyond totalBytes 4096/, snapshot],
    ['chunk a string', (x) => (x.chunk = 'abc'), /^chunk: must be bytes/, snapshot],
    ['node id too long', (x) => (x.from = 'x'.repeat(1000)), /^from: must be at most 128 characters/, append],
  ];
  for (const [name, mutate, expected, sample] of cases) {
    const x = clone(sample);
    mutate(x);
    t.match(errorOf(x), expected, name);
  }
});

t.test("a TimeoutNow without a vote (from a node older than the field) reads as one that carries none", async (t) => {
  t.same(parseMessage({ type: 'timeoutNow', from: 'a', to: 'b', term: 3 }), { ok: true, message: { type: 'timeoutNow', from: 'a', to: 'b', term: 3, vote: false } });
  t.match(errorOf({ type: 'timeoutNow', from: 'a', to: 'b', term: 3, vote: 'yes' }), /^vote: must be a boolean/);
});

t.test('unknown types and non-objects are refused', async (t) => {
  t.match(errorOf({ type: 'installVirus', from: 'a', to: 'b', term: 1 }), /^type: unknown message type "installVirus"/);
  t.match(errorOf({ type: 'toString', from: 'a', to: 'b', term: 1 }), /^type: unknown message type/);
  t.match(errorOf({ type: 'constructor', from: 'a', to: 'b', term: 1 }), /^type: unknown message type/);
  t.match(errorOf({ type: 7 }), /^type: unknown message type number/);
  t.match(errorOf({ from: 'a' }), /^type: is missing/);
  for (const x of [null, undefined, 3, 'append', [], new Uint8Array(3)]) t.match(errorOf(x), /^message: must be an object/);
  t.match(errorOf({ type: 'timeoutNow', from: 'a', to: 'b', term: 10n }), /^term: must be an integer, got bigint/);
});

t.test('the result holds only known fields, in a fresh object', async (t) => {
  const input = { ...samples[0], evil: 'payload', ['__proto__']: { polluted: true } } as Loose;
  const r = parseMessage(input);
  t.ok(r.ok);
  if (!r.ok) return;
  t.not(r.message, input);
  t.notOk('evil' in r.message);
  t.equal(Object.getPrototypeOf(r.message), Object.prototype);
});

t.test('never throws, whatever it is given', async (t) => {
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withTypedArray: true, withMap: true, withSet: true, withDate: true }), (x) => {
      parseMessage(x);
    }),
    { numRuns: 2000 },
  );
  // Near misses: valid messages with one field replaced by anything.
  fc.assert(
    fc.property(fc.constantFrom(...samples), fc.string(), fc.anything({ withBigInt: true }), (m, key, value) => {
      const x = clone(m);
      const keys = Object.keys(x);
      x[keys[key.length % keys.length] ?? 'type'] = value;
      parseMessage(x);
    }),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});
