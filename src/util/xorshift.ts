/**
 * xorshift32: a small PRNG for what needs independence, not secrecy (election
 * jitter, back-off, the start-up warm-up's fixed run). A zero seed would stay
 * zero forever, so it becomes 1.
 */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}
