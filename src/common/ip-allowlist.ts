import { BlockList, isIP } from 'node:net';

/** Builds an allowlist from CIDRs (or single addresses); null when none is configured. */
export function allowlist(cidrs: string[] | undefined): BlockList | null {
  if (!cidrs?.length) return null;
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

/** Whether `ip` may call (always, when there is no list). IPv4-mapped IPv6 addresses count as IPv4. */
export function addressAllowed(list: BlockList | null, ip: string): boolean {
  if (!list) return true;
  const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const type = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  return isIP(plain) !== 0 && list.check(plain, type);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `address` is this machine's loopback (127.0.0.0/8, ::1, or IPv4-mapped 127.x). Anything
 * else, names and the wildcard addresses 0.0.0.0 and :: included, is not. Undefined (a socket
 * already gone) is not loopback either.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  const version = isIP(plain);
  if (version === 0) return false;
  return LOOPBACK.check(plain, version === 6 ? 'ipv6' : 'ipv4');
}

/** Whether a host (an address, `[::1]` as URLs write it, or a name) is loopback: only `localhost` among names. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase() === 'localhost' || isLoopbackAddress(bare);
}
