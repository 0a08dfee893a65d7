/**
 * A monitor's state from its probe results: failAfter consecutive failures
 * take it down, recoverAfter consecutive successes bring a down monitor
 * back up. A new monitor is `unknown` until its first success (up at once:
 * nothing to recover from) or failAfter failures (down). Pure.
 */
import type { MonitorState } from '../fsm/commands.js';

export interface HysteresisState {
  readonly state: MonitorState;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
}

export const INITIAL_HYSTERESIS: HysteresisState = { state: 'unknown', consecutiveFailures: 0, consecutiveSuccesses: 0 };

export function stepHysteresis(
  current: HysteresisState,
  ok: boolean,
  limits: { readonly failAfter: number; readonly recoverAfter: number },
): HysteresisState {
  const consecutiveFailures = ok ? 0 : current.consecutiveFailures + 1;
  const consecutiveSuccesses = ok ? current.consecutiveSuccesses + 1 : 0;
  let state = current.state;
  switch (current.state) {
    case 'unknown':
      if (ok) state = 'up';
      else if (consecutiveFailures >= limits.failAfter) state = 'down';
      break;
    case 'up':
      if (consecutiveFailures >= limits.failAfter) state = 'down';
      break;
    case 'down':
      if (consecutiveSuccesses >= limits.recoverAfter) state = 'up';
      break;
  }
  return { state, consecutiveFailures, consecutiveSuccesses };
}
