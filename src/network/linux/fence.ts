/**
 * The kernel-held lease fence (docs/fencing.md). Two nftables tables owned
 * by hapair make the kernel silent for the VIPs unless a lease element,
 * keyed by the VIP and carrying a timeout, is present:
 *
 * - `inet hapair_fence`: packets to a VIP (prerouting, before conntrack and
 *   DNAT, so NAT'd return traffic is fenced too) and from a VIP
 *   (postrouting, after SNAT, so locally sent and SNAT'd packets are), IPv6
 *   neighbour solicitations for a VIP coming in and advertisements for a
 *   VIP going out (the ND target is matched as `@th,64,128` against integer
 *   sets: nftables 1.0.6 has no `icmpv6 taddr`).
 * - `arp hapair_fence_arp`: ARP sent from a VIP (replies and requests) and
 *   ARP requests for a VIP coming in, except gratuitous ones from the peer.
 *
 * No rule accepts anything: an accept here (say `ct state established`)
 * would let established flows bypass the fence, while an accept in another
 * table cannot undo our drop.
 *
 * This module only builds text and reads listings; the driver runs them.
 */
import { assert } from '../../util/assert.js';
import { ndTargetLiteral, type ParsedVip } from './address.js';

export const FENCE_TABLE = 'hapair_fence';
export const FENCE_ARP_TABLE = 'hapair_fence_arp';

/**
 * Shortest lease the driver writes. nft turns `timeout 0ms` into an element
 * that never expires (measured), and timeouts are whole jiffies rounded
 * down (4 ms at HZ=250), so a tiny timeout could become a permanent lease.
 */
export const MIN_LEASE_MS = 20;

const INET = `inet ${FENCE_TABLE}`;
const ARP = `arp ${FENCE_ARP_TABLE}`;

function elements(values: readonly string[]): string {
  return values.length === 0 ? '' : ` elements = { ${values.join(', ')} }`;
}

function v4(vips: readonly ParsedVip[]): string[] {
  return vips.filter((v) => v.family === 4).map((v) => v.address);
}

function v6(vips: readonly ParsedVip[]): ParsedVip[] {
  return vips.filter((v) => v.family === 6);
}

export interface Lease {
  readonly vips: readonly ParsedVip[];
  readonly timeoutMs: number;
}

function timeoutText(timeoutMs: number): string {
  assert(Number.isInteger(timeoutMs) && timeoutMs >= MIN_LEASE_MS, `fence: lease timeout ${timeoutMs} ms is below ${MIN_LEASE_MS} ms`);
  return `timeout ${timeoutMs}ms`;
}

/**
 * A script that replaces both fence tables in one transaction (add-then-delete
 * makes the delete succeed whether or not the table exists), optionally with
 * lease elements so that a repair while holding leaves no gap.
 */
export function fenceScript(vips: readonly ParsedVip[], lease: Lease | null): string {
  const leased = lease === null ? [] : lease.vips;
  const t = lease === null ? '' : ` ${timeoutText(lease.timeoutMs)}`;
  const lease4 = v4(leased).map((a) => `${a}${t}`);
  const lease6 = v6(leased).map((v) => `${v.address}${t}`);
  const ndLease = v6(leased).map((v) => `${ndTargetLiteral(v.address)}${t}`);
  return [
    `table ${INET} {}`,
    `delete table ${INET}`,
    `table ${ARP} {}`,
    `delete table ${ARP}`,
    `table ${INET} {`,
    `  set vips4 { type ipv4_addr;${elements(v4(vips))} }`,
    `  set lease4 { type ipv4_addr; flags timeout;${elements(lease4)} }`,
    `  set vips6 { type ipv6_addr;${elements(v6(vips).map((v) => v.address))} }`,
    `  set lease6 { type ipv6_addr; flags timeout;${elements(lease6)} }`,
    `  set ndvips { typeof @th,64,128;${elements(v6(vips).map((v) => ndTargetLiteral(v.address)))} }`,
    `  set ndlease { typeof @th,64,128; flags timeout;${elements(ndLease)} }`,
    '  chain pre {',
    '    type filter hook prerouting priority -300; policy accept;',
    '    ip daddr @vips4 ip daddr != @lease4 drop',
    '    ip6 daddr @vips6 ip6 daddr != @lease6 drop',
    '    meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit @th,64,128 @ndvips @th,64,128 != @ndlease drop',
    '  }',
    '  chain post {',
    '    type filter hook postrouting priority 300; policy accept;',
    '    ip saddr @vips4 ip saddr != @lease4 drop',
    '    ip6 saddr @vips6 ip6 saddr != @lease6 drop',
    '    meta l4proto ipv6-icmp icmpv6 type nd-neighbor-advert @th,64,128 @ndvips @th,64,128 != @ndlease drop',
    '  }',
    '}',
    `table ${ARP} {`,
    `  set vips4 { type ipv4_addr;${elements(v4(vips))} }`,
    `  set lease4 { type ipv4_addr; flags timeout;${elements(lease4)} }`,
    '  chain in {',
    '    type filter hook input priority -300; policy accept;',
    '    arp operation request arp daddr ip @vips4 arp saddr ip != @vips4 arp daddr ip != @lease4 drop',
    '  }',
    '  chain out {',
    '    type filter hook output priority -300; policy accept;',
    '    arp saddr ip @vips4 arp saddr ip != @lease4 drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The lease elements of `vips` as `[set, element]` pairs (element without timeout). */
function leaseElements(vips: readonly ParsedVip[]): [string, string][] {
  const out: [string, string][] = [];
  for (const vip of vips) {
    if (vip.family === 4) {
      out.push([`${INET} lease4`, vip.address], [`${ARP} lease4`, vip.address]);
    } else {
      out.push([`${INET} lease6`, vip.address], [`${INET} ndlease`, ndTargetLiteral(vip.address)]);
    }
  }
  return out;
}

/**
 * One transaction (one line) that sets every lease element's timeout.
 * With `onlyIfHeld`, each element is deleted before it is added: the delete
 * fails with ENOENT when the element has expired, which aborts the whole
 * transaction, so a lapsed lease is never quietly re-created. A plain add
 * is used when acquiring; `timeout T expires T` makes it extend an
 * existing element (re-adding with the same timeout alone does not).
 */
export function leaseCommand(vips: readonly ParsedVip[], timeoutMs: number, onlyIfHeld: boolean): string {
  assert(vips.length > 0, 'fence: a lease needs at least one VIP');
  const t = timeoutText(timeoutMs);
  const parts: string[] = [];
  for (const [set, element] of leaseElements(vips)) {
    if (onlyIfHeld) parts.push(`delete element ${set} { ${element} }`);
    parts.push(`add element ${set} { ${element} ${t} expires ${timeoutMs}ms }`);
  }
  return parts.join('; ');
}

/** One transaction that removes every lease element (the node goes silent for all VIPs). */
export function releaseCommand(): string {
  return [`flush set ${INET} lease4`, `flush set ${INET} lease6`, `flush set ${INET} ndlease`, `flush set ${ARP} lease4`].join('; ');
}

/** The command that lists one fence table as JSON (the session runs with -j). */
export function listCommands(): readonly string[] {
  return [`list table ${INET}`, `list table ${ARP}`];
}

const LEASE_SETS = new Set(['lease4', 'lease6', 'ndlease']);

export interface FenceListing {
  /** Structure without handles and lease elements: equal listings mean an intact fence. */
  readonly canonical: string;
  /** Lease elements present, as `set:value` (e.g. `inet:lease4:10.0.0.1`). */
  readonly leases: ReadonlySet<string>;
}

/** Parses the JSON listings of both tables; null when one is missing or unreadable. */
export function parseFenceListing(inetJson: string, arpJson: string): FenceListing | null {
  const parts: unknown[] = [];
  const leases = new Set<string>();
  for (const text of [inetJson, arpJson]) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return null;
    }
    const items = (doc as { nftables?: unknown }).nftables;
    if (!Array.isArray(items)) return null;
    for (const item of items as Record<string, unknown>[]) {
      if ('metainfo' in item) continue;
      const set = item['set'] as Record<string, unknown> | undefined;
      if (set !== undefined && LEASE_SETS.has(String(set['name']))) {
        for (const e of (set['elem'] as unknown[] | undefined) ?? []) {
          const val = (e as { elem?: { val?: unknown } }).elem?.val ?? e;
          leases.add(`${String(set['family'])}:${String(set['name'])}:${normalizeValue(String(val))}`);
        }
        const { elem: _elem, ...rest } = set;
        parts.push({ set: stripHandles(rest) });
        continue;
      }
      parts.push(stripHandles(item));
    }
  }
  return { canonical: JSON.stringify(parts), leases };
}

/** The `set:value` keys parseFenceListing reports for a held lease on `vips`. */
export function expectedLeaseKeys(vips: readonly ParsedVip[]): string[] {
  return leaseElements(vips).map(([set, element]) => {
    const [family, , name] = set.split(' ');
    return `${family}:${name}:${element}`;
  });
}

/** nft may print a 128-bit integer without leading zeros. */
function normalizeValue(val: string): string {
  if (!/^0x[0-9a-f]+$/i.test(val)) return val;
  return `0x${BigInt(val).toString(16).padStart(32, '0')}`;
}

function stripHandles(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripHandles);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== 'handle') out[k] = stripHandles(v);
  return out;
}
