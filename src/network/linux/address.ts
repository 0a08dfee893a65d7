/**
 * VIP addresses as the kernel sees them. Comparisons use a canonical key
 * (dotted quad for IPv4, 32 hex digits for IPv6) because `ip -j` prints
 * IPv6 in RFC 5952 form while an operator may write any valid spelling.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Groups } from '../../util/ipv6.js';

export interface ParsedVip {
  readonly family: 4 | 6;
  /** As the operator wrote it, without the prefix length. */
  readonly address: string;
  readonly prefixLength: number;
  /** Canonical key: IPv4 dotted quad, IPv6 32 lowercase hex digits. */
  readonly key: string;
}

export type ParseResult = { readonly ok: true; readonly vip: ParsedVip } | { readonly ok: false; readonly error: string };

export function parseVip(text: string): ParseResult {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? null : text.slice(slash + 1);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : null;
  if (family === null) return { ok: false, error: `${text}: not an IPv4 or IPv6 address` };
  if (address.includes('%')) return { ok: false, error: `${text}: a VIP cannot carry a zone index` };
  const maxPrefix = family === 4 ? 32 : 128;
  const prefixLength = prefixText === null ? maxPrefix : Number(prefixText);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > maxPrefix || prefixText === '') {
    return { ok: false, error: `${text}: prefix length must be an integer 0-${maxPrefix}` };
  }
  const key = family === 4 ? address : ipv6ToHex(address);
  return { ok: true, vip: { family, address, prefixLength, key } };
}

/** The canonical key of an address the kernel printed (no prefix). */
export function addressKey(address: string): string | null {
  if (isIPv4(address)) return address;
  if (isIPv6(address)) return ipv6ToHex(address);
  return null;
}

/** 32 lowercase hex digits; the caller has checked isIPv6. */
export function ipv6ToHex(address: string): string {
  return ipv6Groups(address).join('');
}

/** The `@th,64,128` integer literal nft takes for an IPv6 ND target. */
export function ndTargetLiteral(address: string): string {
  return `0x${ipv6ToHex(address)}`;
}
