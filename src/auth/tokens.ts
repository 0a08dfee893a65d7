/**
 * The tokens file (MISSION.md): only SHA-256 hashes of bearer tokens are
 * stored, each with a name and a role. Presented tokens are hashed and
 * compared against every stored hash in constant time, so neither the match
 * position nor a matching prefix shows in the timing.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { isRole, ROLES, type Principal, type Role } from './roles.js';

/** Bounds: a tokens file is a handful of lines; anything bigger is a mistake. */
export const TOKEN_LIMITS = { tokens: 256, tokenChars: 4096, nameChars: 64 } as const;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const SHA256_PATTERN = /^[0-9a-fA-F]{64}$/;
const ENTRY_KEYS = ['name', 'role', 'sha256'] as const;

export class TokensFileError extends Error {
  override name = 'TokensFileError';
  constructor(
    readonly file: string,
    readonly key: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${key === '' ? '' : `${key}: `}${problem}`, options);
  }
}

export interface TokenEntry {
  readonly name: string;
  readonly role: Role;
  /** Lower-case hex. */
  readonly sha256: string;
}

/** What the API needs: who a presented bearer token belongs to, if anyone. */
export interface TokenAuthenticator {
  authenticate(token: string): Principal | null;
}

export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** A new random token (URL-safe, 256 bits) and its hash for the tokens file. */
export function generateToken(): { readonly token: string; readonly sha256: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, sha256: hashToken(token) };
}

export class TokenStore implements TokenAuthenticator {
  private readonly entries: ReadonlyArray<TokenEntry & { readonly digest: Buffer }>;

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries.map((e) => ({ ...e, digest: Buffer.from(e.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  authenticate(token: string): Principal | null {
    if (token.length === 0 || token.length > TOKEN_LIMITS.tokenChars) return null;
    const digest = hash('sha256', token, 'buffer');
    let found: Principal | null = null;
    // Every entry is compared, match or not: the loop's duration does not depend on where the match is.
    for (const e of this.entries) {
      if (timingSafeEqual(digest, e.digest) && found === null) found = { name: e.name, role: e.role };
    }
    return found;
  }
}

export function loadTokensFile(file: string): TokenStore {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new TokensFileError(file, '', code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(cause)})`, {
      cause,
    });
  }
  return new TokenStore(parseTokensFile(text, file));
}

export function parseTokensFile(text: string, file: string): TokenEntry[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = yamlError.pos[0] === undefined ? undefined : lines.linePos(yamlError.pos[0]).line;
    throw new TokensFileError(file, '', `invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${yamlError.message}`);
  }
  const raw: unknown = doc.toJS();
  if (!isPlainObject(raw)) throw new TokensFileError(file, '', `must be a mapping with a "tokens" list, got ${describe(raw)}`);
  for (const key of Object.keys(raw)) {
    if (key !== 'tokens') throw new TokensFileError(file, key, 'unknown key (the file has only "tokens")');
  }
  const list = raw['tokens'];
  if (!Array.isArray(list)) throw new TokensFileError(file, 'tokens', `must be a list, got ${describe(list)}`);
  if (list.length > TOKEN_LIMITS.tokens) {
    throw new TokensFileError(file, 'tokens', `has ${list.length} entries; at most ${TOKEN_LIMITS.tokens} are allowed`);
  }
  const entries: TokenEntry[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  list.forEach((item: unknown, i) => {
    const at = `tokens[${i}]`;
    if (!isPlainObject(item)) throw new TokensFileError(file, at, `must be a mapping {name, role, sha256}, got ${describe(item)}`);
    for (const key of Object.keys(item)) {
      if (!(ENTRY_KEYS as readonly string[]).includes(key)) {
        throw new TokensFileError(file, `${at}.${key}`, `unknown key (expected ${ENTRY_KEYS.join(', ')})`);
      }
    }
    const { name, role, sha256 } = item;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new TokensFileError(
        file,
        `${at}.name`,
        `must be 1-64 letters, digits, "_", ".", "@" or "-", got ${describe(name)}`,
      );
    }
    if (!isRole(role)) throw new TokensFileError(file, `${at}.role`, `must be one of ${ROLES.join(', ')}, got ${describe(role)}`);
    if (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256)) {
      throw new TokensFileError(
        file,
        `${at}.sha256`,
        `must be the 64 hex digits of the token's SHA-256 (for example: printf %s "$TOKEN" | sha256sum), got ${describe(sha256, true)}`,
      );
    }
    if (names.has(name)) throw new TokensFileError(file, `${at}.name`, `duplicate name "${name}"`);
    const lower = sha256.toLowerCase();
    if (hashes.has(lower)) throw new TokensFileError(file, `${at}.sha256`, 'the same hash appears twice');
    names.add(name);
    hashes.add(lower);
    entries.push({ name, role, sha256: lower });
  });
  return entries;
}

/** One line for a tokens file (used by `hapair init`). */
export function tokensFileLine(entry: TokenEntry): string {
  return `  - { name: ${entry.name}, role: ${entry.role}, sha256: "${entry.sha256}" }`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown, secretish = false): string {
  if (x === undefined) return 'nothing (missing)';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'object') return 'a mapping';
  // A wrong sha256 value might be a pasted token: show its length, never its text.
  if (secretish && typeof x === 'string') return `a string of ${x.length} characters`;
  const text = JSON.stringify(x);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
