/**
 * The cluster state as the driver loop applies it: the pure FSM (src/fsm)
 * behind the StateMachine seam, plus change notifications for the agent.
 */
import { applyEntry, type ApplyResult } from '../fsm/apply.js';
import { restore, snapshot } from '../fsm/snapshot.js';
import { initialState, type ClusterState } from '../fsm/state.js';
import type { Entry } from '../raft/types.js';
import type { StateMachine } from './raft-node.js';

export type StateListener = (previous: ClusterState, next: ClusterState, entry: Entry | null, result: ApplyResult | null) => void;

export class ReplicatedState implements StateMachine {
  private current: ClusterState = initialState();
  private readonly listeners: StateListener[] = [];

  get state(): ClusterState {
    return this.current;
  }

  onChange(listener: StateListener): void {
    this.listeners.push(listener);
  }

  apply(entry: Entry): ApplyResult {
    const previous = this.current;
    const { state, result } = applyEntry(previous, entry);
    this.current = state;
    for (const l of this.listeners) l(previous, state, entry, result);
    return result;
  }

  /** An entry this version could not apply: keep the log so an updated node replays it (APPLY_ERROR). */
  holdsLog(): boolean {
    return this.current.lastApplyError?.code === 'UNSUPPORTED_COMMAND';
  }

  snapshot(): Uint8Array {
    return snapshot(this.current);
  }

  restore(data: Uint8Array): void {
    const previous = this.current;
    this.current = restore(data);
    for (const l of this.listeners) l(previous, this.current, null, null);
  }
}
