/**
 * Every answer of a switchover that timed out, against the real state
 * machine: the withdrawal is applied (or refused) by src/fsm as on a node.
 */
import t from 'tap';
import { ServiceError } from '../../src/api/errors.js';
import type { ApplyResult } from '../../src/fsm/apply.js';
import type { Lease } from '../../src/fsm/state.js';
import { withdrawMove, type MoveWithdrawal } from '../../src/node/withdraw-move.js';
import { cmd, pair, register, type Log } from '../fsm/fixtures.js';

/** fw1 holds epoch 1 and a switchover to fw2 waits; returns the log and the intent's index. */
function waiting(): { log: Log; intentIndex: number } {
  const log = pair();
  log.run(cmd('grantLease', { holder: 'fw1', epoch: 1, reason: 'bootstrap', term: 1 }));
  log.run(cmd('moveIntent', { to: 'fw2', reason: 'switchover', epoch: 1 }));
  return { log, intentIndex: log.state.intent?.index ?? 0 };
}

type Harness = { -readonly [K in keyof MoveWithdrawal]: MoveWithdrawal[K] } & { proposals: number };

function setup(log: Log, intentIndex: number, over: Partial<MoveWithdrawal> = {}): Harness {
  const w: Harness = {
    proposals: 0,
    to: 'fw2',
    intentIndex,
    waitedMs: 15_000,
    self: 'fw1',
    state: () => log.state,
    raft: () => ({ role: 'leader', leaseVoid: false }),
    taken: (): Lease | null => {
      const l = log.state.lease;
      return l !== null && l.holder === 'fw2' && l.epoch > 1 ? l : null;
    },
    propose: async (index: number): Promise<ApplyResult> => {
      w.proposals++;
      return log.run(cmd('withdrawIntent', { intentIndex: index }));
    },
    retryMs: 300,
    pauseMs: 5,
    ...over,
  };
  return w;
}

async function answer(w: MoveWithdrawal): Promise<string> {
  try {
    const lease = await withdrawMove(w);
    return `completed: ${lease.holder} epoch ${lease.epoch}`;
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    return `${error.code}: ${error.message}`;
  }
}

const LATE = 'TIMEOUT: fw2 did not take the active role within 15 s; ';

t.test('withdrawn while the holder leads with a lease: it keeps the role', async (t) => {
  const { log, intentIndex } = waiting();
  const w = setup(log, intentIndex);
  t.equal(await answer(w), `${LATE}the move was withdrawn and will not happen later: fw1 (epoch 1) keeps the active role; read the status for why fw2 could not take it`);
  t.equal(log.state.intent, null, 'the state has no move left');
  t.equal(w.proposals, 1);
});

t.test('withdrawn, but the holder does not lead with a lease (a failed transfer voided it): the target may still take over', async (t) => {
  const { log, intentIndex } = waiting();
  t.match(await answer(setup(log, intentIndex, { raft: () => ({ role: 'leader', leaseVoid: true }) })), /the move was withdrawn, but the active role is with fw1 \(epoch 1\), which does not lead with a Raft lease now .* so the role may still pass to fw2 as a failover/);
  const again = waiting();
  t.match(await answer(setup(again.log, again.intentIndex, { raft: () => ({ role: 'follower', leaseVoid: false }) })), /may still pass to fw2 as a failover/, 'asked on a node that does not lead');
});

t.test('members on different versions: not withdrawn, and the answer says the move still waits', async (t) => {
  const { log, intentIndex } = waiting();
  log.run(register('wit', 'witness', '0.4.0'));
  const w = setup(log, intentIndex);
  t.equal(await answer(w), `${LATE}the move still waits and happens once fw2 can take the role: it cannot be withdrawn while members run different versions; read the status`);
  t.equal(w.proposals, 0, 'nothing written');
  t.equal(log.state.intent?.index, intentIndex);
});

t.test('the move completed after all: the lease is the answer', async (t) => {
  const { log, intentIndex } = waiting();
  log.run(cmd('grantLease', { holder: 'fw2', epoch: 2, reason: 'switchover', term: 2 }));
  t.equal(await answer(setup(log, intentIndex)), 'completed: fw2 epoch 2');
});

t.test('replaced by another move first: nothing to withdraw, and it says so', async (t) => {
  const { log, intentIndex } = waiting();
  log.run(cmd('moveIntent', { to: 'fw2', reason: 'maintenance', epoch: 1 }));
  const w = setup(log, intentIndex);
  t.equal(await answer(w), `${LATE}the move had already ended or been replaced by another; read the status`);
  t.equal(w.proposals, 0);
});

t.test('refused writes are tried again until one goes through', async (t) => {
  const { log, intentIndex } = waiting();
  let refusals = 2;
  const w = setup(log, intentIndex);
  const inner = w.propose;
  w.propose = async (index: number) => {
    if (refusals-- > 0) throw new ServiceError('LIMIT_EXCEEDED', 'a leadership transfer is in progress; retry shortly');
    return inner(index);
  };
  t.match(await answer(w), /the move was withdrawn and will not happen later/);
  t.equal(w.proposals, 1, 'the third try wrote it');
});

t.test('a write with an unknown outcome that did withdraw it is recognised from the audit trail', async (t) => {
  const { log, intentIndex } = waiting();
  const w = setup(log, intentIndex);
  w.propose = async (index: number) => {
    log.run(cmd('withdrawIntent', { intentIndex: index }));
    throw new ServiceError('TIMEOUT', 'entry 9 not applied in time; its outcome is unknown');
  };
  t.match(await answer(w), /the move was withdrawn and will not happen later: fw1 \(epoch 1\) keeps the active role/);
});

t.test('no write goes through in time: the answer says the move may still happen, and why', async (t) => {
  const { log, intentIndex } = waiting();
  const w = setup(log, intentIndex, {
    propose: async () => {
      throw new ServiceError('NOT_LEADER', 'not the leader (leader is wit)');
    },
  });
  const started = performance.now();
  t.equal(await answer(w), `${LATE}withdrawing the move failed too (not the leader (leader is wit)), so it may still happen; read the status`);
  t.ok(performance.now() - started >= 300, 'it kept trying for retryMs');
  t.equal(log.state.intent?.index, intentIndex, 'the move still waits');
});

t.test('versions that differ only by the time the withdrawal is applied: refused there, and the same answer', async (t) => {
  const { log, intentIndex } = waiting();
  const w = setup(log, intentIndex);
  w.propose = async (index: number) => {
    log.run(register('wit', 'witness', '0.4.0'));
    return log.run(cmd('withdrawIntent', { intentIndex: index }));
  };
  t.match(await answer(w), /the move still waits and happens once fw2 can take the role: it cannot be withdrawn while members run different versions/);
  t.equal(log.state.intent?.index, intentIndex, 'refused at apply: the move still waits');
});
