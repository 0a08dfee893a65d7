/**
 * APPLY_ERROR clears once its cause is gone: a node that cannot apply an
 * entry (written by a newer version) keeps its log from that entry instead
 * of compacting it away, so once it runs a version that can apply it, a
 * restart replays the entry and the state no longer records the error.
 */
import t from 'tap';
import { Packr } from 'msgpackr';
import { encodeCommand, makeCommand } from '../../src/fsm/commands.js';
import { RaftNode, type StateMachine } from '../../src/node/raft-node.js';
import { ReplicatedState } from '../../src/node/replicated-state.js';
import type { Entry } from '../../src/raft/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { MemoryHub } from '../../src/transport/memory-transport.js';

const packr = new Packr({ useRecords: false, moreTypes: false });
const AT = '2026-11-25T10:00:00.000Z';
/** An addNote as a future version would write it (command version 2, which this build does not know). */
const FUTURE_NOTE = Uint8Array.from(packr.pack({ type: 'addNote', v: 2, at: AT, principal: 'ops', text: 'from the future' }));

function note(text: string): Uint8Array {
  return encodeCommand(makeCommand('addNote', { text }, { at: AT, principal: 'ops' }));
}

/**
 * The state machine of the "updated" build: it reads version 2 of addNote
 * (here: as version 1, which has the same fields).
 */
class UpdatedState implements StateMachine {
  constructor(readonly inner: ReplicatedState) {}
  apply(entry: Entry): unknown {
    if (entry.payload.type === 'command') {
      const raw = packr.unpack(entry.payload.data) as { type?: unknown; v?: unknown };
      if (raw.type === 'addNote' && raw.v === 2) {
        return this.inner.apply({ ...entry, payload: { type: 'command', data: Uint8Array.from(packr.pack({ ...raw, v: 1 })) } });
      }
    }
    return this.inner.apply(entry);
  }
  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }
  restore(data: Uint8Array): void {
    this.inner.restore(data);
  }
  holdsLog(): boolean {
    return this.inner.holdsLog();
  }
}

async function startNode(storage: MemoryStorage, hub: MemoryHub, stateMachine: StateMachine): Promise<RaftNode> {
  const node = new RaftNode({
    id: 'a',
    storage,
    transport: hub.transport('a'),
    stateMachine,
    bootstrap: { voters: [{ id: 'a', kind: 'data', peer: 'mem:a' }], learners: [] },
    tickMs: 2,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0.5,
    snapshotEveryEntries: 16,
  });
  await node.start();
  const deadline = Date.now() + 10_000;
  while (node.status().role !== 'leader' || node.appliedTerm !== node.status().term) {
    if (Date.now() > deadline) throw new Error('no leader within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
  return node;
}

t.test('an entry this version cannot apply keeps the log; the updated node replays it and the error is gone', async (t) => {
  const hub = new MemoryHub();
  const storage = new MemoryStorage('a');
  const old = new ReplicatedState();
  let node = await startNode(storage, hub, old);
  await node.propose(note('before'));
  const refused = await node.propose(FUTURE_NOTE);
  t.match(refused.result, { ok: false, code: 'UNSUPPORTED_COMMAND' });
  t.match(old.state.lastApplyError, { index: refused.index, code: 'UNSUPPORTED_COMMAND' });
  t.ok(old.holdsLog(), 'the state asks to keep the log');
  for (let i = 0; i < 40; i++) await node.propose(note(`after ${i}`));
  t.equal(node.status().snapshotIndex, 0, 'no compaction past the entry, though 40 > snapshotEveryEntries were applied');
  t.equal(old.state.notes.count, 41, 'the old version has every note but the one it could not read');
  await node.stop();

  // The update: the same store, a build that reads the entry.
  const updated = new ReplicatedState();
  node = await startNode(storage.durableCopy(), hub, new UpdatedState(updated));
  t.equal(updated.state.lastApplyError, null, 'replayed: no apply error in the state any more');
  t.equal(updated.state.notes.count, 42, 'and the change the entry carried is in the state');
  t.notOk(updated.holdsLog());
  for (let i = 0; i < 20; i++) await node.propose(note(`later ${i}`));
  t.ok(node.status().snapshotIndex > 0, 'compaction resumes once nothing is held');
  await node.stop();
});

t.test('a node without an apply error compacts its log as usual', async (t) => {
  const hub = new MemoryHub();
  const state = new ReplicatedState();
  const node = await startNode(new MemoryStorage('b'), hub, state);
  for (let i = 0; i < 40; i++) await node.propose(note(`n${i}`));
  t.ok(node.status().snapshotIndex > 0, 'a state without an apply error lets the log be compacted');
  await node.stop();
});
