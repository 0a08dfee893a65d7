/**
 * The Node.js releases hapair runs on: it needs `crypto.hash` (one-shot
 * hashing), which came in 20.12 and, on the 21 line, in 21.7.
 */
const MIN_MINOR: Readonly<Record<number, number>> = { 20: 12, 21: 7 };

/** Why this Node.js cannot run hapair, or null. `version` as in process.versions.node. */
export function nodeVersionProblem(version: string): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const min = MIN_MINOR[major];
  if (major > 21 || (min !== undefined && minor >= min)) return null;
  return `hapair needs Node.js 20.12 or newer (21.7 or newer on the 21 line); this is ${version} (see docs/install.md)`;
}
