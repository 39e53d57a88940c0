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
