import t from 'tap';
import { apply } from '../../src/fsm/apply.js';
import { backupChecksum, formatBackupFile, parseBackupFile, toBackupFile } from '../../src/fsm/backup.js';
import { canonicalJson } from '../../src/fsm/canonical.js';
import { COMMAND_VERSIONS, decodeCommand, encodeCommand, makeCommand } from '../../src/fsm/commands.js';
import { Packr } from 'msgpackr';
import { STATE_LIMITS, findMember, initialState } from '../../src/fsm/state.js';
import { AssertionError } from '../../src/util/assert.js';
import { GOOD_SETTINGS, Log, at, cmd, pair, register } from './fixtures.js';

const raw = new Packr({ useRecords: false });

t.test('encode/decode round trip and the version check', async (t) => {
  const c = cmd('setMaintenance', { node: 'fw1', on: true });
  const decoded = decodeCommand(encodeCommand(c));
  t.same(decoded, { ok: true, command: c });

  const newer = decodeCommand(raw.pack({ ...c, v: COMMAND_VERSIONS.setMaintenance + 1 }));
  t.same(newer, {
    ok: false,
    code: 'UNSUPPORTED_COMMAND',
    message: 'setMaintenance command version 2 is newer than this node supports (1); update this node',
  });
  const unknown = decodeCommand(raw.pack({ ...c, type: 'teleport' }));
  t.match(unknown, { ok: false, code: 'UNSUPPORTED_COMMAND', message: /unknown command type "teleport"/ });
  t.match(decodeCommand(raw.pack({ ...c, on: 'yes' })), { ok: false, code: 'MALFORMED_COMMAND', message: /malformed setMaintenance command at \/on/ });
  t.match(decodeCommand(new Uint8Array([0xc1])), { ok: false, code: 'MALFORMED_COMMAND' });
  t.match(decodeCommand(raw.pack([1, 2])), { ok: false, code: 'MALFORMED_COMMAND', message: 'a command must be a map' });
});

t.test('a command from a newer version is refused deterministically and recorded, not misapplied', async (t) => {
  const log = pair();
  const before = log.state;
  const bytes = raw.pack({ ...cmd('setMaintenance', { node: 'fw1', on: true }), v: 9 });
  const result = log.runBytes(bytes);
  t.match(result, { ok: false, code: 'UNSUPPORTED_COMMAND' });
  t.equal(findMember(log.state, 'fw1')?.maintenance, false, 'not applied');
  t.same(log.state.lastApplyError, { index: 4, code: 'UNSUPPORTED_COMMAND', message: (result as { message: string }).message });
  t.same(log.state.members, before.members);
  t.equal(log.state.appliedIndex, 4);
  t.match(log.state.audit.at(-1), { index: 4, outcome: 'refused', detail: /UNSUPPORTED_COMMAND/ });

  // A second replica reaches the same state from the same bytes.
  const other = pair();
  other.runBytes(bytes);
  t.same(other.state, log.state);
});

t.test('apply asserts that indexes increase', async (t) => {
  const log = pair();
  t.throws(() => apply(log.state, 3, register('fw9')), AssertionError);
});

t.test('noop and membership entries', async (t) => {
  const log = pair();
  const { applyEntry } = await import('../../src/fsm/apply.js');
  let s = applyEntry(log.state, { index: 4, term: 2, payload: { type: 'noop' } }).state;
  t.equal(s.appliedIndex, 4);
  s = applyEntry(s, { index: 5, term: 2, payload: { type: 'membership', change: { op: 'remove', id: 'wit' } } }).state;
  t.same(s.members.map((m) => m.id), ['fw1', 'fw2']);
  t.match(s.audit.at(-1), { command: 'membership', detail: 'removed wit' });
});

t.test('registerMember: register, re-register, version change, kind change refused', async (t) => {
  const log = new Log();
  t.match(log.run(register('fw2')), { ok: true, detail: 'registered fw2 (data, version 0.3.0, entitlement present)' });
  t.match(log.run(register('fw1', 'data', '0.3.0', false)), { ok: true });
  t.same(log.state.members.map((m) => m.id), ['fw1', 'fw2'], 'sorted by id');
  const auditLength = log.state.audit.length;
  t.match(log.run(register('fw2')), { ok: true, detail: 'unchanged' });
  t.equal(log.state.audit.length, auditLength, 'an unchanged re-registration is not audited');
  t.match(log.run(register('fw2', 'data', '0.4.0')), { ok: true, detail: 'fw2: version 0.3.0 -> 0.4.0' });
  t.match(log.run(register('fw2', 'witness')), { ok: false, code: 'NOT_ELIGIBLE' });
  log.run(cmd('setMaintenance', { node: 'fw2', on: true }));
  log.run(register('fw2', 'data', '0.5.0'));
  t.equal(findMember(log.state, 'fw2')?.maintenance, true, 're-registering keeps maintenance');
  for (let i = 3; i <= STATE_LIMITS.members; i++) log.run(register(`n${i}`));
  t.match(log.run(register('one-too-many')), { ok: false, code: 'LIMIT' });
});

t.test('reportHealth: stored in order, audited only on transitions', async (t) => {
  const log = pair();
  const report = (health: 'healthy' | 'failed', seconds: number) =>
    cmd('reportHealth', {
      node: 'fw2',
      health,
      monitors: [
        { name: 'z', state: 'up' },
        { name: 'a', state: health === 'failed' ? 'down' : 'up' },
      ],
      appliedConfigRevision: 0,
      appliedPolicyRevision: 0,
      policyApply: { revision: 0, ok: true, error: null },
      peers: [{ id: 'wit', reachable: true }, { id: 'fw1', reachable: true }],
    }, { at: at(seconds) });
  t.match(log.run(report('healthy', 1)), { ok: true });
  const health = findMember(log.state, 'fw2')?.health;
  t.same(health?.monitors.map((m) => m.name), ['a', 'z']);
  t.same(health?.peers.map((p) => p.id), ['fw1', 'wit']);
  const n = log.state.audit.length;
  log.run(report('healthy', 2));
  t.equal(log.state.audit.length, n, 'same health: not audited');
  log.run(report('failed', 3));
  t.match(log.state.audit.at(-1), { detail: 'fw2 health healthy -> failed; down: a' });
  t.match(log.run(cmd('reportHealth', { ...report('healthy', 4), node: 'ghost' })), { ok: false, code: 'NOT_FOUND' });
});

/** fw2's report with nothing to say: healthy, no monitors, nothing applied yet. */
const FW2_HEALTHY = {
  node: 'fw2',
  health: 'healthy' as const,
  monitors: [],
  appliedConfigRevision: 0,
  appliedPolicyRevision: 0,
  policyApply: { revision: 0, ok: true, error: null },
  peers: [],
};

t.test('reportHealth: the VIP device check is stored when reported, audited when it turns bad or good again', async (t) => {
  const log = pair();
  const base = FW2_HEALTHY;
  const missing = 'fw2: VIP 192.0.2.1/24 on interface "lan": device "eth9" does not exist on this host';
  t.match(log.run(cmd('reportHealth', base, { at: at(1) })), { ok: true });
  t.equal(findMember(log.state, 'fw2')?.health?.vipSetup, undefined, 'a report without it (a build that does not check) stores none');
  const n = log.state.audit.length;
  log.run(cmd('reportHealth', { ...base, vipSetup: { revision: 0, problems: [] } }, { at: at(2) }));
  t.same(findMember(log.state, 'fw2')?.health?.vipSetup, { revision: 0, problems: [] });
  t.equal(log.state.audit.length, n, 'a clean check is no transition');
  log.run(cmd('reportHealth', { ...base, vipSetup: { revision: 0, problems: [missing] } }, { at: at(3) }));
  t.same(findMember(log.state, 'fw2')?.health?.vipSetup, { revision: 0, problems: [missing] });
  t.match(log.state.audit.at(-1), { detail: `fw2 health healthy -> healthy; cannot hold the VIPs: ${missing}` });
  log.run(cmd('reportHealth', { ...base, vipSetup: { revision: 0, problems: [] } }, { at: at(4) }));
  t.match(log.state.audit.at(-1), { detail: 'fw2 health healthy -> healthy; can hold the VIPs again' });
  const tooMany = cmd('reportHealth', { ...base, vipSetup: { revision: 0, problems: Array.from({ length: 33 }, () => missing) } }, { at: at(5) });
  t.match(log.runEncoded(tooMany), { ok: false, code: 'MALFORMED_COMMAND' }, 'bounded like every reported list');
});

t.test('reportHealth: a past failure to hold the VIPs is stored while reported, gone with the next report without it, and bounded', async (t) => {
  const log = pair();
  const base = FW2_HEALTHY;
  const fault = 'fw2: its network layer failed to take or keep the VIPs for 3 s or more: nft: broken';
  log.run(cmd('reportHealth', { ...base, holdFault: fault }, { at: at(1) }));
  t.equal(findMember(log.state, 'fw2')?.health?.holdFault, fault);
  log.run(cmd('reportHealth', base, { at: at(2) }));
  t.equal(findMember(log.state, 'fw2')?.health?.holdFault, undefined);
  t.match(log.runEncoded(cmd('reportHealth', { ...base, holdFault: 'x'.repeat(1025) }, { at: at(3) })), { ok: false, code: 'MALFORMED_COMMAND' });
});

t.test('setSettings: compare-and-set on the revision', async (t) => {
  const log = pair();
  t.match(log.run(cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 })), { ok: true, revision: 1 });
  t.equal(log.state.configRevision, 1);
  t.equal(log.state.settings.preferred, 'fw1');
  const stale = log.run(cmd('setSettings', { settings: { ...GOOD_SETTINGS, preferred: 'fw2' }, ifRevision: 0 }));
  t.same(stale, {
    ok: false,
    code: 'CONFLICT',
    currentRevision: 1,
    message: 'settings changed since revision 0: the current revision is 1; read it again and retry',
  });
  t.equal(log.state.settings.preferred, 'fw1', 'a stale write changes nothing');
  t.match(log.run(cmd('setSettings', { settings: { ...GOOD_SETTINGS, preferred: 'fw2' }, ifRevision: null })), {
    ok: true,
    revision: 2,
    detail: 'settings revision 1 -> 2: preferred "fw1" -> "fw2"',
  });
  t.match(log.state.audit.at(-1), { principal: 'ops', command: 'setSettings', outcome: 'applied' });
});

t.test('setSettings: invalid settings are refused with the formatted errors', async (t) => {
  const log = pair();
  const r = log.run(cmd('setSettings', { settings: { ...GOOD_SETTINGS, failback: { holdDownMs: '5s' } }, ifRevision: 0 }));
  t.match(r, { ok: false, code: 'INVALID', message: 'failback.holdDownMs: must be an integer >= 0, got "5s"' });
  const r2 = log.run(cmd('setSettings', { settings: { ...GOOD_SETTINGS, preferred: 'wit' }, ifRevision: 0 }));
  t.match(r2, { ok: false, code: 'INVALID', message: 'preferred: "wit" is not a data member (data members: fw1, fw2)' });
  t.equal(log.state.configRevision, 0);
});

t.test('settings, policy and restore writes are refused while versions differ (R11)', async (t) => {
  const log = pair();
  log.run(register('fw2', 'data', '0.4.0'));
  const msg =
    'members run different software versions (fw1 0.3.0, fw2 0.4.0, wit 0.3.0): settings, policy and restore writes are refused until every node runs the same version';
  t.same(log.run(cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 })), { ok: false, code: 'VERSION_MISMATCH', message: msg });
  t.same(log.run(cmd('setPolicy', { ruleset: 'table inet x {}', ifRevision: 0 })), { ok: false, code: 'VERSION_MISMATCH', message: msg });
  log.run(cmd('createBackup', { comment: 'before' }));
  t.match(log.run(cmd('restoreBackup', { id: log.state.backups[0]!.id, ifRevision: null })), { ok: false, code: 'VERSION_MISMATCH' });
  log.run(register('fw1', 'data', '0.4.0'));
  log.run(register('wit', 'witness', '0.4.0'));
  t.match(log.run(cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 })), { ok: true });
});

t.test('setPolicy: compare-and-set', async (t) => {
  const log = pair();
  t.match(log.run(cmd('setPolicy', { ruleset: 'table inet a {}', ifRevision: 0 })), { ok: true, revision: 1 });
  t.match(log.run(cmd('setPolicy', { ruleset: 'table inet b {}', ifRevision: 0 })), { ok: false, code: 'CONFLICT', currentRevision: 1 });
  t.same(log.state.policy, { ruleset: 'table inet a {}', revision: 1 });
  t.match(log.state.audit.at(-2), { detail: /^policy revision 0 -> 1 \(15 chars, sha256 [0-9a-f]{12}\)$/ });
});

t.test('grantLease: the epoch only grows, one step at a time, to an eligible data node', async (t) => {
  const log = pair();
  const grant = (holder: string, epoch: number) => cmd('grantLease', { holder, epoch, reason: 'failover', term: 3 });
  t.match(log.run(grant('fw1', 2)), { ok: false, code: 'STALE_EPOCH', currentEpoch: 0 });
  t.match(log.run(grant('fw1', 1)), { ok: true, epoch: 1 });
  t.match(log.state.lease, { holder: 'fw1', epoch: 1, reason: 'failover', index: log.index, term: 3 });
  t.same(log.run(grant('fw2', 1)), {
    ok: false,
    code: 'STALE_EPOCH',
    currentEpoch: 1,
    message: 'grant of epoch 1 refused: the current epoch is 1, so the next grant must be 2',
  });
  t.match(log.run(grant('wit', 2)), { ok: false, code: 'NOT_ELIGIBLE', message: 'grant refused: wit is a witness and never holds the active role' });
  t.match(log.run(grant('ghost', 2)), { ok: false, code: 'NOT_ELIGIBLE', message: 'grant refused: ghost is not a member' });
  log.run(cmd('setMaintenance', { node: 'fw2', on: true }));
  t.match(log.run(grant('fw2', 2)), { ok: false, code: 'NOT_ELIGIBLE', message: 'grant refused: fw2 is in maintenance' });
  t.equal(log.state.lease?.epoch, 1);
  log.run(cmd('setMaintenance', { node: 'fw2', on: false }));
  t.match(log.run(grant('fw2', 2)), { ok: true });
  t.same(log.state.moves.map((m) => [m.from, m.to, m.epoch]), [[null, 'fw1', 1], ['fw1', 'fw2', 2]]);
});

t.test('moveIntent: recorded for the current epoch, voided by the next grant', async (t) => {
  const log = pair();
  t.match(log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 0 })), { ok: false, code: 'STALE_EPOCH' });
  log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }));
  t.match(log.run(cmd('moveIntent', { to: 'wit', reason: 'switchover', epoch: 1 })), { ok: false, code: 'NOT_ELIGIBLE' });
  t.match(log.run(cmd('moveIntent', { to: 'fw1', reason: 'switchover', epoch: 1 })), {
    ok: false,
    message: 'move refused: fw1 already holds the active role',
  });
  t.match(log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 1 }, { principal: 'alice' })), { ok: true });
  t.match(log.state.intent, { to: 'fw2', reason: 'switchover', epoch: 1, principal: 'alice' });
  log.run(cmd('grantLease', { holder: 'fw2', epoch: 2, reason: 'switchover', term: 2 }));
  t.equal(log.state.intent, null);
});

t.test('withdrawIntent: clears the waiting move it names, nothing else; refused while versions differ', async (t) => {
  const log = pair();
  log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }));
  t.match(log.run(cmd('withdrawIntent', { intentIndex: 4 })), { ok: false, code: 'NOT_FOUND', message: /no move asked for at log index 4 is waiting/ });
  log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 1 }));
  const asked = log.state.intent?.index ?? 0;
  t.ok(asked > 0);
  t.match(log.run(cmd('withdrawIntent', { intentIndex: asked + 1 })), { ok: false, code: 'NOT_FOUND' }, 'another index: not this move');
  t.equal(log.state.intent?.index, asked, 'the move still waits');
  t.match(log.run(cmd('withdrawIntent', { intentIndex: asked }, { principal: 'alice' })), { ok: true });
  t.equal(log.state.intent, null);
  t.equal(log.state.lease?.holder, 'fw1', 'the lease is untouched');
  t.match(log.state.audit.at(-1), { principal: 'alice', outcome: 'applied', detail: `move intent withdrawn: fw1 -> fw2 (switchover, asked for at index ${asked})` });
  t.match(log.run(cmd('withdrawIntent', { intentIndex: asked })), { ok: false, code: 'NOT_FOUND' }, 'twice: nothing left to withdraw');

  log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 1 }));
  const again = log.state.intent?.index ?? 0;
  log.run(cmd('grantLease', { holder: 'fw2', epoch: 2, reason: 'switchover', term: 2 }));
  t.match(log.run(cmd('withdrawIntent', { intentIndex: again })), { ok: false, code: 'NOT_FOUND' }, 'a move carried out cannot be withdrawn');
  t.equal(log.state.lease?.holder, 'fw2');

  log.run(cmd('moveIntent', { to: 'fw1', reason: 'switchover', epoch: 2 }));
  const mixed = log.state.intent?.index ?? 0;
  log.run(register('wit', 'witness', '0.4.0'));
  t.match(log.run(cmd('withdrawIntent', { intentIndex: mixed })), { ok: false, code: 'VERSION_MISMATCH' }, 'an older build could not apply it');
  t.equal(log.state.intent?.index, mixed);
});

t.test('flap damping engages after too many moves in the window and only an operator clears it', async (t) => {
  const log = pair();
  log.run(cmd('setSettings', { settings: { ...GOOD_SETTINGS, flapDamping: { maxMoves: 2, windowMs: 60_000 } }, ifRevision: 0 }));
  const grant = (holder: string, epoch: number, seconds: number) =>
    log.run(cmd('grantLease', { holder, epoch, reason: 'failback', term: epoch }, { at: at(seconds) }));
  grant('fw1', 1, 0); // bootstrap: not a move
  grant('fw2', 2, 10);
  grant('fw1', 3, 20);
  t.equal(log.state.flapDamped, null, '2 moves within the window: still allowed');
  grant('fw2', 4, 30);
  t.match(log.state.flapDamped, { since: at(30), moves: 3 });
  t.match(log.state.audit.at(-1), { detail: /flap damping engaged/ });
  t.match(log.run(cmd('clearFlapDamping', {})), { ok: true, detail: 'flap damping cleared' });
  t.equal(log.state.flapDamped, null);
  grant('fw1', 5, 40);
  t.equal(log.state.flapDamped, null, 'moves before the clear no longer count');
  grant('fw2', 6, 200);
  grant('fw1', 7, 210);
  t.equal(log.state.flapDamped, null, 'moves outside the window do not count');
});

t.test('backups: create, export, import (also from another cluster), checksum, restore', async (t) => {
  const log = pair();
  log.run(cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 }));
  log.run(cmd('setPolicy', { ruleset: 'table inet filter { chain input { policy drop; } }', ifRevision: 0 }));
  const created = log.run(cmd('createBackup', { comment: 'known good' }, { principal: 'alice' }));
  t.match(created, { ok: true, backupId: `b${log.index}` });
  const backup = log.state.backups[0]!;
  t.match(backup, { author: 'alice', comment: 'known good', origin: null, content: { configRevision: 1, policy: { revision: 1 } } });
  t.equal(backup.sha256, backupChecksum(backup.content));

  for (const format of ['json', 'yaml'] as const) {
    const text = formatBackupFile(toBackupFile(backup, 'edge'), format);
    const parsed = parseBackupFile(text);
    t.ok(parsed.ok, `${format} export parses`);
    if (!parsed.ok) continue;
    t.equal(canonicalJson(parsed.file.content), canonicalJson(backup.content), `${format}: content survives`);

    const tampered = parseBackupFile(text.replace('policy drop', 'policy accept'));
    t.match(tampered, { ok: false, code: 'CHECKSUM_MISMATCH', message: /content does not match its checksum/ }, `${format}: tampering is caught`);
  }
  t.match(parseBackupFile('{"x": 1}'), { ok: false, code: 'BACKUP_INVALID', message: 'not a hapair backup file (no hapairBackup key)' });
  t.match(parseBackupFile('hapairBackup: 7'), { ok: false, message: /version 7 is not supported/ });
  t.match(parseBackupFile('hapairBackup: 1\nid: x'), { ok: false, code: 'BACKUP_INVALID' });

  // Another cluster imports the file and restores it.
  const other = pair();
  const file = toBackupFile(backup, 'edge');
  t.match(other.run(cmd('importBackup', { backup: { ...file, sha256: '0'.repeat(64) } })), { ok: false, code: 'CHECKSUM_MISMATCH' });
  const imported = other.run(cmd('importBackup', { backup: file }));
  t.match(imported, { ok: true, detail: `imported backup edge/${backup.id} as b${other.index}` });
  const stored = other.state.backups[0]!;
  t.same(stored.origin, { cluster: 'edge', id: backup.id, index: backup.index });
  t.equal(stored.sha256, backup.sha256, 'normalised content keeps its checksum');

  t.match(other.run(cmd('restoreBackup', { id: 'b999', ifRevision: null })), { ok: false, code: 'NOT_FOUND' });
  t.match(other.run(cmd('restoreBackup', { id: stored.id, ifRevision: 5 })), { ok: false, code: 'CONFLICT', currentRevision: 0 });
  t.match(other.run(cmd('restoreBackup', { id: stored.id, ifRevision: 0 })), { ok: true, revision: 1 });
  t.same(other.state.settings, log.state.settings);
  t.same(other.state.policy, { ruleset: log.state.policy.ruleset, revision: 1 });
});

t.test('restore refuses a backup whose preferred node is not a member here', async (t) => {
  const log = pair();
  log.run(cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 }));
  log.run(cmd('createBackup', { comment: '' }));
  const file = toBackupFile(log.state.backups[0]!, 'edge');
  const other = new Log();
  other.run(register('gw1'));
  other.run(cmd('importBackup', { backup: file }));
  t.match(other.run(cmd('restoreBackup', { id: other.state.backups[0]!.id, ifRevision: null })), {
    ok: false,
    code: 'INVALID',
    message: `backup ${other.state.backups[0]!.id} settings: preferred: "fw1" is not a data member (data members: gw1)`,
  });
});

t.test('backups and the audit trail are bounded', async (t) => {
  const log = pair();
  for (let i = 0; i < STATE_LIMITS.backups + 3; i++) log.run(cmd('createBackup', { comment: `#${i}` }));
  t.equal(log.state.backups.length, STATE_LIMITS.backups);
  t.equal(log.state.backups[0]?.comment, '#3', 'the oldest go first');
  for (let i = 0; i < STATE_LIMITS.audit; i++) log.run(cmd('setMaintenance', { node: 'fw2', on: i % 2 === 0 }));
  t.equal(log.state.audit.length, STATE_LIMITS.audit);
  t.equal(log.state.audit.at(-1)?.index, log.index);
  t.equal(log.state.audit[0]?.index, log.index - STATE_LIMITS.audit + 1);
});

t.test('commands applied from bytes equal commands applied directly', async (t) => {
  const a = pair();
  const b = pair();
  const commands = [
    cmd('setSettings', { settings: GOOD_SETTINGS, ifRevision: 0 }),
    cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }),
    makeCommand('setMaintenance', { node: 'fw2', on: true }, { at: at(5), principal: 'bob' }),
  ];
  for (const c of commands) {
    a.run(c);
    b.runEncoded(c);
  }
  t.same(a.state, b.state);
  t.not(a.state, initialState());
});

t.test('addNote counts notes and keeps an order-independent checksum', async (t) => {
  const a = new Log();
  const b = new Log();
  for (const text of ['one', 'two', 'three']) t.match(a.run(cmd('addNote', { text })), { ok: true, detail: `note: ${text}` });
  for (const text of ['three', 'one', 'two']) b.run(cmd('addNote', { text }));
  t.equal(a.state.notes.count, 3);
  t.equal(a.state.notes.xor, b.state.notes.xor, 'same notes in another order give the same checksum');
  const c = new Log();
  for (const text of ['one', 'two', 'four']) c.run(cmd('addNote', { text }));
  t.not(c.state.notes.xor, a.state.notes.xor, 'a different note changes the checksum');
  t.equal(a.state.audit.at(-1)?.detail, 'note: three');
});

t.test('a new epoch for the same holder (fence lapsed) is not a role move', async (t) => {
  const log = pair();
  t.match(log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 })), { ok: true });
  const moves = log.state.moves.length;
  t.match(log.run(cmd('grantLease', { holder: 'fw1', epoch: 2, reason: 'fence-lapsed', term: 1 })), { ok: true });
  t.equal(log.state.lease?.epoch, 2);
  t.equal(log.state.lease?.reason, 'fence-lapsed');
  t.equal(log.state.moves.length, moves, 'no move recorded');
  t.match(log.run(cmd('grantLease', { holder: 'fw2', epoch: 3, reason: 'failover', term: 2 })), { ok: true });
  t.equal(log.state.moves.length, moves + 1, 'a real move is recorded');
});

t.test('grantLease version 2: the holder in maintenance takes a new epoch after its fence lapsed; version 1 is refused as before', async (t) => {
  const log = pair();
  log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }));
  log.run(cmd('setMaintenance', { node: 'fw1', on: true }));
  const lapsed = { holder: 'fw1', epoch: 2, reason: 'fence-lapsed' as const, term: 1 };
  t.match(log.run(cmd('grantLease', lapsed)), { ok: false, code: 'NOT_ELIGIBLE', message: 'grant refused: fw1 is in maintenance' }, 'version 1: refused, as an older build refuses it');
  t.match(log.run(cmd('grantLease', { ...lapsed, reason: 'failover' }, { v: 2 })), { ok: false, code: 'NOT_ELIGIBLE' }, 'version 2, another reason: refused');
  log.run(cmd('setMaintenance', { node: 'fw2', on: true }));
  t.match(log.run(cmd('grantLease', { ...lapsed, holder: 'fw2' }, { v: 2 })), { ok: false, code: 'NOT_ELIGIBLE' }, 'version 2 to a node that does not hold the lease: refused');
  log.run(register('wit', 'witness', '0.2.0'));
  t.match(log.run(cmd('grantLease', lapsed, { v: 2 })), { ok: false, code: 'NOT_ELIGIBLE' }, 'version 2 while versions differ: refused, as the older build refuses it (UNSUPPORTED_COMMAND), so the lease stays alike');
  log.run(register('wit', 'witness'));
  t.match(log.run(cmd('grantLease', lapsed, { v: 2 })), { ok: true, epoch: 2 }, 'version 2, the holder, fence-lapsed, one version: applied');
  t.match(log.state.lease, { holder: 'fw1', epoch: 2, reason: 'fence-lapsed' });
  t.equal(findMember(log.state, 'fw1')?.maintenance, true, 'still in maintenance');
  log.run(cmd('setMaintenance', { node: 'fw1', on: false }));
  log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 2 }));
  const moves = log.state.moves.length;
  t.match(log.run(cmd('grantLease', { ...lapsed, epoch: 3 }, { v: 2 })), { ok: true, epoch: 3 }, 'out of maintenance, version 2 applies as version 1');
  t.equal(log.state.intent, null, 'it clears the intent');
  t.equal(log.state.moves.length, moves, 'and is not a move');
  t.throws(() => cmd('grantLease', lapsed, { v: COMMAND_VERSIONS.grantLease + 1 }), new RegExp(`grantLease has no version ${COMMAND_VERSIONS.grantLease + 1} in this build`), 'a version this build does not have is not written');
  t.equal(cmd('grantLease', lapsed).v, 1, 'version 1 unless asked');
});

t.test('flap damping counts automatic moves only, and clearFlapDamping lets them happen again', async (t) => {
  const log = pair();
  log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }));
  const holders = ['fw2', 'fw1', 'fw2', 'fw1', 'fw2', 'fw1'];
  holders.forEach((holder, i) => log.run(cmd('grantLease', { holder, epoch: i + 2, reason: 'switchover', term: 1 })));
  t.equal(log.state.flapDamped, null, 'switchovers by an operator are not flapping');
  ['fw2', 'fw1', 'fw2', 'fw1'].forEach((holder, i) =>
    log.run(cmd('grantLease', { holder, epoch: i + 8, reason: i % 2 === 0 ? 'failover' : 'failback', term: 1 })),
  );
  t.not(log.state.flapDamped, null, 'four automatic moves in the window engage damping (maxMoves 3)');
  t.match(log.run(cmd('clearFlapDamping', {})), { ok: true, detail: 'flap damping cleared' });
  t.equal(log.state.flapDamped, null);
});
