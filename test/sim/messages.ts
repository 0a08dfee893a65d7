/**
 * The wire contract as the simulator sees it: a one-line description of each
 * message for traces, a small code for the trace hash, and the checks every
 * message must pass as it leaves a core.
 */
import type { Message, MessageType, NodeId } from '../../src/raft/types.js';
import { unreachable } from '../../src/util/assert.js';

export const MESSAGE_CODES: Readonly<Record<MessageType, number>> = {
  preVote: 1,
  vote: 2,
  preVoteResponse: 3,
  voteResponse: 4,
  append: 5,
  appendResponse: 6,
  heartbeat: 7,
  heartbeatResponse: 8,
  snapshot: 9,
  snapshotResponse: 10,
  timeoutNow: 11,
  readIndex: 12,
  readIndexResponse: 13,
  propose: 14,
};

export function describeMessage(m: Message): string {
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return `${m.type} t${m.term} last=${m.lastLogIndex}/${m.lastLogTerm}`;
    case 'preVoteResponse':
    case 'voteResponse':
      return `${m.type} t${m.term} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `append t${m.term} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
    case 'appendResponse':
      return `appendResponse t${m.term} ${m.success ? 'ok' : 'reject'} index=${m.index} hint=${m.hintIndex}/${m.hintTerm}`;
    case 'heartbeat':
      return `heartbeat t${m.term} commit=${m.commit}${m.readCtx === null ? '' : ` read=${m.readCtx}`}`;
    case 'heartbeatResponse':
      return `heartbeatResponse t${m.term}${m.readCtx === null ? '' : ` read=${m.readCtx}`}`;
    case 'snapshot':
      return `snapshot t${m.term} ${m.meta.index}/${m.meta.term} @${m.offset}+${m.chunk.length}/${m.totalBytes}${m.done ? ' done' : ''}`;
    case 'snapshotResponse':
      return `snapshotResponse t${m.term} ${m.snapshotIndex} next=${m.nextOffset}${m.done ? ' done' : ''}`;
    case 'timeoutNow':
      return `timeoutNow t${m.term}${m.vote ? ' vote' : ''}`;
    case 'readIndex':
      return `readIndex t${m.term} ${m.ctx}`;
    case 'readIndexResponse':
      return `readIndexResponse t${m.term} ${m.ctx} index=${m.index}`;
    case 'propose':
      return `propose t${m.term} ${m.data.length}B`;
    default:
      return unreachable(m);
  }
}

/** Every message is checked as it leaves a core: the positive space of the wire contract. */
export function validateMessage(from: NodeId, m: Message, fail: (why: string) => never): void {
  if (m.from !== from) fail(`from is ${m.from}`);
  if (m.to === from) fail('addressed to itself');
  if (!Number.isInteger(m.term) || m.term < 0) fail('bad term');
  switch (m.type) {
    case 'preVote':
    case 'vote':
      if (m.lastLogTerm > m.term) fail('last log term above the campaign term');
      return;
    case 'preVoteResponse':
    case 'voteResponse':
    case 'heartbeat':
    case 'heartbeatResponse':
    case 'timeoutNow':
    case 'readIndex':
    case 'readIndexResponse':
    case 'propose':
      return;
    case 'append': {
      let prevTerm = m.prevTerm;
      m.entries.forEach((e, k) => {
        if (e.index !== m.prevIndex + 1 + k) fail(`entry ${k} has index ${e.index}`);
        if (e.term < prevTerm) fail(`entry ${e.index} term ${e.term} below the one before it`);
        if (e.term > m.term) fail(`entry ${e.index} term ${e.term} above the message term`);
        prevTerm = e.term;
      });
      return;
    }
    case 'appendResponse':
      return;
    case 'snapshot':
      if (m.offset < 0 || m.offset + m.chunk.length > m.totalBytes) fail('chunk outside the snapshot');
      if (m.meta.term > m.term) fail('snapshot term above the message term');
      return;
    case 'snapshotResponse':
      return;
    default:
      return unreachable(m);
  }
}
