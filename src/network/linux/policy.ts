/**
 * The security policy as nftables text. The operator's ruleset declares its
 * own tables; hapair replaces them in one `nft -f` transaction: every table
 * of the previous policy (found by the comment hapair stamps on them) and
 * every table the new ruleset declares is created empty and deleted, then
 * stamped and defined anew. nft applies a file as one batch, so a ruleset
 * the kernel refuses leaves the previous one in force, never half-applied.
 * The fence tables are hapair's own and no policy may name them.
 */
import { FENCE_ARP_TABLE, FENCE_TABLE } from './fence.js';

export const POLICY_COMMENT_PREFIX = 'hapair-policy';
const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const;

export interface TableRef {
  readonly family: string;
  readonly name: string;
}

export type PolicyParse = { readonly ok: true; readonly tables: readonly TableRef[] } | { readonly ok: false; readonly error: string };

/** Strips `#` comments outside double-quoted strings (nft's own comment syntax). */
function stripComments(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') inString = !inString;
    else if (c === '#' && !inString) return line.slice(0, i);
  }
  return line;
}

/** The tables a ruleset declares, or why hapair refuses it before asking nft. */
export function parsePolicy(ruleset: string): PolicyParse {
  const tables = new Map<string, TableRef>();
  const lines = ruleset.split('\n').map(stripComments);
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}`;
    if (/\bflush\s+ruleset\b/.test(line)) {
      return { ok: false, error: `${where}: "flush ruleset" would remove hapair's fence; hapair replaces the policy's tables itself, so leave it out` };
    }
    if (/^\s*include\b/.test(line)) return { ok: false, error: `${where}: "include" is not allowed: the policy must be self-contained to be the same on every node` };
    if (line.includes(FENCE_TABLE) || line.includes(FENCE_ARP_TABLE)) {
      return { ok: false, error: `${where}: ${FENCE_TABLE}/${FENCE_ARP_TABLE} are hapair's fence tables and cannot be named by the policy` };
    }
    const m = /^\s*(?:add\s+|create\s+)?table\s+(?:(\w+)\s+)?([A-Za-z_][\w.-]*)\s*(\{|$)/.exec(line);
    if (m === null) continue;
    const family = m[1] ?? 'ip';
    const name = m[2] ?? '';
    if (!(FAMILIES as readonly string[]).includes(family)) return { ok: false, error: `${where}: unknown table family "${family}"` };
    tables.set(`${family} ${name}`, { family, name });
  }
  return { ok: true, tables: [...tables.values()] };
}

/**
 * The whole transaction: tables of the previous policy and of the new one
 * are emptied by create-then-delete (valid whether or not they exist),
 * stamped with the revision, then the operator's text follows.
 */
export function policyTransaction(ruleset: string, declared: readonly TableRef[], previous: readonly TableRef[], revision: number): string {
  const all = new Map<string, TableRef>();
  for (const t of [...previous, ...declared]) all.set(`${t.family} ${t.name}`, t);
  const lines: string[] = [];
  for (const t of all.values()) lines.push(`table ${t.family} ${t.name} {}`, `delete table ${t.family} ${t.name}`);
  for (const t of declared) lines.push(`table ${t.family} ${t.name} { comment "${POLICY_COMMENT_PREFIX} rev ${revision}"; }`);
  lines.push(ruleset, '');
  return lines.join('\n');
}

export interface PolicyInForce {
  readonly tables: readonly TableRef[];
  /** The revision stamped on them (the highest, if they disagree), or null when none is stamped. */
  readonly revision: number | null;
}

/** Reads the policy tables and revision from `nft -t list ruleset` text (JSON listings omit table comments). */
export function policyInForce(listing: string): PolicyInForce {
  const tables: TableRef[] = [];
  let revision: number | null = null;
  const re = new RegExp(`^table (\\S+) (\\S+) \\{\\n\\s*comment "${POLICY_COMMENT_PREFIX} rev (\\d+)"`, 'gm');
  for (const m of listing.matchAll(re)) {
    tables.push({ family: m[1] ?? '', name: m[2] ?? '' });
    const rev = Number(m[3]);
    revision = revision === null ? rev : Math.max(revision, rev);
  }
  return { tables, revision };
}
