/**
 * Reconnect back-off: exponential in the number of consecutive failures,
 * capped, with "equal jitter" (a factor in [0.5, 1)) so peers that lost each
 * other at the same moment do not redial in lockstep, yet never retry
 * sooner than half the ceiling.
 */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(failures, MAX_BACKOFF_EXPONENT));
  return Math.round(ceilingMs * (0.5 + 0.5 * random()));
}

/** 2^30 times any sane base is beyond every cap; bounds the arithmetic. */
export const MAX_BACKOFF_EXPONENT = 30;
