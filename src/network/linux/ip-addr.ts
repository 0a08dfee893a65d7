/**
 * Reading and changing addresses with iproute2. `ip -j addr show` is the
 * kernel's truth the driver reconciles against.
 */
import { addressKey, type ParsedVip } from './address.js';

export interface KernelAddress {
  readonly device: string;
  readonly key: string;
  readonly prefixLength: number;
}

/** Parses `ip -j addr show` output; null when it is not the JSON iproute2 prints. */
export function parseIpAddrJson(text: string): KernelAddress[] | null {
  const links = jsonLinks(text);
  if (links === null) return null;
  const out: KernelAddress[] = [];
  for (const link of links) {
    if (typeof link.ifname !== 'string' || !Array.isArray(link.addr_info)) continue;
    for (const a of link.addr_info as { local?: unknown; prefixlen?: unknown }[]) {
      if (typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
      const key = addressKey(a.local);
      if (key !== null) out.push({ device: link.ifname, key, prefixLength: a.prefixlen });
    }
  }
  return out;
}

/** Device names from `ip -j link show`, or null when the output is not that. */
export function parseIpLinkJson(text: string): string[] | null {
  const links = jsonLinks(text);
  if (links === null) return null;
  const out: string[] = [];
  for (const link of links) if (typeof link.ifname === 'string') out.push(link.ifname);
  return out;
}

/** The per-device objects of an `ip -j` listing, or null when the text is not one. */
function jsonLinks(text: string): { ifname?: unknown; addr_info?: unknown }[] | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  return Array.isArray(doc) ? (doc as { ifname?: unknown; addr_info?: unknown }[]) : null;
}

export function addArgs(vip: ParsedVip, device: string): string[] {
  const base = ['addr', 'add', `${vip.address}/${vip.prefixLength}`, 'dev', device];
  // No duplicate address detection: the address would stay tentative (and
  // unusable) for a second, and the fence, not DAD, decides who answers.
  return vip.family === 6 ? ['-6', ...base, 'nodad'] : base;
}

export function delArgs(vip: ParsedVip, prefixLength: number, device: string): string[] {
  const base = ['addr', 'del', `${vip.address}/${prefixLength}`, 'dev', device];
  return vip.family === 6 ? ['-6', ...base] : base;
}

/** iproute2's answers that mean the change was already in place. */
export function alreadyPresent(stderr: string): boolean {
  // Older kernels answer with the errno text, newer ones with an extended ack.
  return /File exists|Address already assigned/.test(stderr);
}

export function alreadyAbsent(stderr: string): boolean {
  return /Cannot assign requested address|Address not found|No such device|does not exist/.test(stderr);
}
