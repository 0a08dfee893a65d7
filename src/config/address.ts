import { isIP } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Splits `host:port` or `[v6]:port`; null when malformed (see checkHostPort for the reason). */
export function parseHostPort(address: string): HostPort | null {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  if (match === null) return null;
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}

/** A sentence describing what is wrong with a host:port, or null when it is fine. */
export function checkHostPort(address: string): string | null {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]+):(\d+)$/.exec(address);
  if (match === null) return `must be host:port or [ipv6]:port, got ${JSON.stringify(address)}`;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port must be 1-65535, got ${JSON.stringify(match[2])}`;
  const host = match[1] ?? '';
  if (address.startsWith('[') && isIP(host) !== 6) return `not an IPv6 address: ${JSON.stringify(host)}`;
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) {
    return `not an IP address or host name: ${JSON.stringify(host)}`;
  }
  return null;
}
