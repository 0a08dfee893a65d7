/** The oldest Node.js hapair runs on: `crypto.hash` (one-shot hashing) came in 20.12. */
export const MIN_NODE = { major: 20, minor: 12 } as const;

/** Why this Node.js cannot run hapair, or null. `version` as in process.versions.node. */
export function nodeVersionProblem(version: string): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > MIN_NODE.major || (major === MIN_NODE.major && minor >= MIN_NODE.minor)) return null;
  return `hapair needs Node.js ${MIN_NODE.major}.${MIN_NODE.minor} or newer; this is ${version} (see docs/install.md)`;
}
