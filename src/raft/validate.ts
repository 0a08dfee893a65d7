/**
 * Checks on what the core is given from outside: the config at start and
 * every message on arrival. A bad config is an operating error (named
 * class); a malformed message is dropped and counted, never trusted.
 */
import type { ElectionJitter, Entry, Message, RaftConfig, RaftTimers } from './types.js';
import { unreachable } from '../util/assert.js';

export class RaftConfigError extends Error {
  override name = 'RaftConfigError';
}

function positiveInt(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new RaftConfigError(`${name} must be a positive integer, got ${String(v)}`);
  }
}

export function validateConfig(config: RaftConfig): void {
  if (typeof config.id !== 'string' || config.id.length === 0) throw new RaftConfigError('id must be a non-empty string');
  positiveInt('electionTicks', config.electionTicks);
  positiveInt('heartbeatTicks', config.heartbeatTicks);
  // Followers must hear a heartbeat well within the election timeout, or a
  // healthy leader is deposed and its lease never holds.
  if (config.electionTicks < 2 * config.heartbeatTicks) {
    throw new RaftConfigError(`electionTicks (${config.electionTicks}) must be at least 2 * heartbeatTicks (${config.heartbeatTicks})`);
  }
  if (config.voteRefusalTicks !== undefined) positiveInt('voteRefusalTicks', config.voteRefusalTicks);
  if (config.electionJitter !== undefined) validateJitter(config.electionJitter);
  if (typeof config.random !== 'function') throw new RaftConfigError('random must be a function returning [0, 1)');
  const l = config.limits;
  positiveInt('limits.maxEntriesPerAppend', l.maxEntriesPerAppend);
  positiveInt('limits.maxBytesPerAppend', l.maxBytesPerAppend);
  positiveInt('limits.maxInflightAppends', l.maxInflightAppends);
  positiveInt('limits.maxUncommittedBytes', l.maxUncommittedBytes);
  positiveInt('limits.snapshotChunkBytes', l.snapshotChunkBytes);
  if (l.maxSnapshotBytes !== undefined) positiveInt('limits.maxSnapshotBytes', l.maxSnapshotBytes);
}

/** Checks timers given to a running core (Raft.setTimers) by the rules of validateConfig. */
export function validateTimers(timers: RaftTimers): void {
  positiveInt('electionTicks', timers.electionTicks);
  positiveInt('heartbeatTicks', timers.heartbeatTicks);
  if (timers.electionTicks < 2 * timers.heartbeatTicks) {
    throw new RaftConfigError(`electionTicks (${timers.electionTicks}) must be at least 2 * heartbeatTicks (${timers.heartbeatTicks})`);
  }
  if (timers.electionJitter !== undefined) validateJitter(timers.electionJitter);
  const refusal = timers.voteRefusalTicks ?? timers.electionTicks;
  positiveInt('voteRefusalTicks', refusal);
  const lease = timers.leaseTicks;
  if (lease === undefined) return;
  const check = (name: string, v: unknown): void => {
    if (!nonNegInt(v)) throw new RaftConfigError(`${name} must be an integer >= 0, got ${String(v)}`);
  };
  check('leaseTicks.self', lease.self);
  check('leaseTicks.otherPeers', lease.otherPeers);
  for (const [id, v] of Object.entries(lease.peers)) check(`leaseTicks.peers.${id}`, v);
  // Our own acknowledgement is our own refusal: counting it longer would let the lease outlive it.
  if (lease.self > refusal) throw new RaftConfigError(`leaseTicks.self (${lease.self}) must not exceed voteRefusalTicks (${refusal})`);
}

function validateJitter(jitter: ElectionJitter): void {
  if (!nonNegInt(jitter.minTicks)) throw new RaftConfigError(`electionJitter.minTicks must be an integer >= 0, got ${String(jitter.minTicks)}`);
  positiveInt('electionJitter.spanTicks', jitter.spanTicks);
}

function nonNegInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function validEntries(prevIndex: number, prevTerm: number, term: number, entries: readonly Entry[]): boolean {
  if (!Array.isArray(entries)) return false;
  let lastTerm = prevTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (e === null || typeof e !== 'object' || e.index !== prevIndex + 1 + i) return false;
    if (!nonNegInt(e.term) || e.term < lastTerm || e.term > term || e.term === 0) return false;
    if (e.payload === null || typeof e.payload !== 'object') return false;
    lastTerm = e.term;
  }
  return true;
}

/** Why a message is malformed, or null when its shape is sound. */
export function malformedReason(m: Message): string | null {
  if (typeof m.from !== 'string' || typeof m.to !== 'string') return 'from/to not strings';
  if (!nonNegInt(m.term)) return 'bad term';
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return nonNegInt(m.lastLogIndex) && nonNegInt(m.lastLogTerm) ? null : 'bad last log position';
    case 'preVoteResponse':
    case 'voteResponse':
      return typeof m.granted === 'boolean' ? null : 'bad granted flag';
    case 'append':
      if (!nonNegInt(m.prevIndex) || !nonNegInt(m.prevTerm) || !nonNegInt(m.commit)) return 'bad append header';
      return validEntries(m.prevIndex, m.prevTerm, m.term, m.entries) ? null : 'entries not contiguous or terms out of order';
    case 'appendResponse':
      return nonNegInt(m.index) && nonNegInt(m.hintIndex) && nonNegInt(m.hintTerm) ? null : 'bad append response';
    case 'heartbeat':
      return nonNegInt(m.commit) && Number.isSafeInteger(m.sentTick) ? null : 'bad heartbeat';
    case 'heartbeatResponse':
      return Number.isSafeInteger(m.sentTick) ? null : 'bad heartbeat response';
    case 'snapshot':
      if (m.meta === null || typeof m.meta !== 'object') return 'no snapshot meta';
      if (!nonNegInt(m.meta.index) || m.meta.index < 1 || !nonNegInt(m.meta.term) || m.meta.term > m.term) return 'bad snapshot meta';
      if (m.meta.membership === null || !Array.isArray(m.meta.membership?.voters) || !Array.isArray(m.meta.membership?.learners)) return 'bad snapshot membership';
      return null;
    case 'snapshotResponse':
      return nonNegInt(m.snapshotIndex) && Number.isSafeInteger(m.nextOffset) ? null : 'bad snapshot response';
    case 'timeoutNow':
      return typeof m.vote === 'boolean' ? null : 'bad vote flag';
    case 'readIndex':
      return typeof m.ctx === 'string' ? null : 'bad read ctx';
    case 'readIndexResponse':
      return typeof m.ctx === 'string' && Number.isSafeInteger(m.index) ? null : 'bad read response';
    case 'propose':
      return m.data instanceof Uint8Array ? null : 'bad forwarded proposal';
    default:
      return unreachable(m);
  }
}
