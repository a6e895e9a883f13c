// Which address a connection comes from. X-Forwarded-For is read only when the TCP peer is a proxy
// listed in TRUST_PROXY, and then only as far back as the listed proxies go: a client that reaches
// the node directly, or forges hops, is still counted under its own address.

import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** '::ffff:10.0.0.1' (an IPv4 client of a dual-stack socket) is 10.0.0.1. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(trimmed);
  return mapped?.[1] ?? trimmed;
}

/** Parses one TRUST_PROXY entry: an address or a CIDR. Returns a problem, or null when it is fine. */
export function trustEntryProblem(entry: string): string | null {
  const [address = '', bits, extra] = entry.split('/');
  const family = isIP(normalizeAddress(address));
  if (family === 0 || extra !== undefined) return `"${entry}" is not an IP address or CIDR (10.0.0.0/8, ::1)`;
  if (bits === undefined) return null;
  const prefix = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(bits) || prefix > max) return `"${entry}" has a prefix length outside 0-${max}`;
  return null;
}

export type TrustCheck = (address: string) => boolean;

/** Entries must have passed trustEntryProblem. */
export function trustList(entries: readonly string[]): TrustCheck {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [raw = '', bits] = entry.split('/');
    const address = normalizeAddress(raw);
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    const normalized = normalizeAddress(address);
    const family = isIP(normalized);
    return family !== 0 && list.check(normalized, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The client's address: the TCP peer, or, when that is a trusted proxy, the nearest X-Forwarded-For hop
 * (right to left) that is not itself a trusted proxy.
 */
export function clientAddress(req: IncomingMessage, trusted: TrustCheck): string {
  let address = normalizeAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trusted(address)) return address;
  const forwarded = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i] ?? '');
    if (hop === '') continue;
    // Garbage in the header: the last proxy we trust is the best we know.
    if (isIP(hop) === 0) return address;
    address = hop;
    if (!trusted(hop)) return hop;
  }
  return address;
}
