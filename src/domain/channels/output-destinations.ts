import { lookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Where a channel's SRT or RTMP output may send its stream. An output that
 * points back into the playout network (loopback, link-local, private
 * ranges) would let whoever edits a channel reach services never meant to
 * be reached from outside: refused unless the installation allows it.
 */
export interface OutputPolicy {
  /** Loopback, link-local, private and other non-public addresses allowed. @defaultValue false */
  allowPrivate: boolean;
  /** When not empty, the only destinations allowed (private ones on it included). */
  allowlist: DestinationList;
  /** Never allowed; wins over the allowlist and allowPrivate. */
  denylist: DestinationList;
}

export interface DestinationList {
  /** As written, for messages. */
  entries: string[];
  addresses: BlockList;
  /** Exact host names, lowercase. */
  names: Set<string>;
  /** `*.example.com` as `.example.com`. */
  suffixes: string[];
}

/** A refused destination, with the reason in words an editor acts on. */
export class DestinationError extends Error {
  override name = 'DestinationError';
}

function emptyList(): DestinationList {
  return { entries: [], addresses: new BlockList(), names: new Set(), suffixes: [] };
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** `10.0.0.0/8, fd00::/8, 203.0.113.7, media.example.com, *.cdn.example.com` (comma or whitespace separated). */
export function parseDestinationList(variable: string, raw: string): DestinationList {
  const list = emptyList();
  for (const entry of raw.split(/[\s,]+/).filter(Boolean)) {
    const lower = entry.toLowerCase();
    const [addr, bits, extra] = lower.split('/');
    const family = isIP(addr);
    if (family !== 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const max = family === 4 ? 32 : 128;
      if (extra !== undefined) throw new Error(`Invalid configuration:\n${variable}: ${entry} is not a CIDR`);
      const prefix = bits === undefined ? max : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
        throw new Error(`Invalid configuration:\n${variable}: ${entry} has a bad prefix length`);
      }
      list.addresses.addSubnet(addr, prefix, type);
    } else if (lower.startsWith('*.') && HOSTNAME.test(lower.slice(2))) {
      list.suffixes.push(lower.slice(1));
    } else if (HOSTNAME.test(lower.replace(/\.$/, ''))) {
      list.names.add(lower.replace(/\.$/, ''));
    } else {
      throw new Error(`Invalid configuration:\n${variable}: ${entry} is neither a CIDR, an address nor a host name`);
    }
    list.entries.push(entry);
  }
  return list;
}

export const NO_DESTINATION_POLICY: OutputPolicy = {
  allowPrivate: true,
  allowlist: emptyList(),
  denylist: emptyList(),
};

/** Addresses that are not the public Internet (IANA special-purpose registries, plus multicast). */
const NON_PUBLIC = (() => {
  const b = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.88.99.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ];
  for (const [a, p] of v4) b.addSubnet(a, p, 'ipv4');
  const v6: [string, number][] = [
    ['::', 128],
    ['::1', 128],
    ['64:ff9b::', 96],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    ['2001::', 23],
    ['2001:db8::', 32],
    ['2002::', 16],
    ['fc00::', 7],
    ['fe80::', 10],
    ['fec0::', 10],
    ['ff00::', 8],
  ];
  for (const [a, p] of v6) b.addSubnet(a, p, 'ipv6');
  return b;
})();

const LOCAL_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as its IPv4 address (BlockList would match every IPv4 address against ::ffff:0:0/96). */
function unmapped(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return { address: mapped[1], type: 'ipv4' };
  // URL serializes [::ffff:127.0.0.1] as [::ffff:7f00:1].
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const [hi, lo] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
    return { address: [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.'), type: 'ipv4' };
  }
  return { address: lower, type: isIPv4(lower) ? 'ipv4' : 'ipv6' };
}

function inList(list: DestinationList, host: string | null, address: string | null): boolean {
  if (host && (list.names.has(host) || list.suffixes.some((s) => host.endsWith(s)))) return true;
  if (address) {
    const a = unmapped(address);
    return list.addresses.check(a.address, a.type);
  }
  return false;
}

/** The URL's host as a name (lowercase, no trailing dot) or an address (brackets removed). */
export function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * Checks a destination as written in the output: a literal address, a local
 * name, a number that the resolver would read as an address (`2130706433`,
 * `0x7f.1`), and the lists. A host name's addresses are checked at start
 * (checkResolvedDestination), since what it resolves to may change.
 */
export function checkDestination(policy: OutputPolicy, url: URL): void {
  const host = hostOf(url);
  const family = isIP(host);
  if (family === 0 && /^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$/i.test(host)) {
    throw new DestinationError(`host ${host} must be a host name or a dotted IPv4 address`);
  }
  const name = family === 0 ? host : null;
  const address = family === 0 ? null : host;
  if (inList(policy.denylist, name, address)) throw new DestinationError(`host ${host} is on OUTPUT_DENYLIST`);
  if (policy.allowlist.entries.length > 0) {
    // An address must be on the list itself; a name not on it may still resolve into a listed range (checked at start).
    if (address !== null && !inList(policy.allowlist, null, address))
      throw new DestinationError(`host ${host} is not on OUTPUT_ALLOWLIST`);
    return;
  }
  if (policy.allowPrivate) return;
  if (name !== null && (LOCAL_NAMES.has(name) || name.endsWith('.localhost'))) {
    throw new DestinationError(
      `host ${host} is this machine: outputs may not point at loopback (OUTPUT_ALLOW_PRIVATE)`,
    );
  }
  if (address !== null) {
    const a = unmapped(address);
    if (NON_PUBLIC.check(a.address, a.type)) {
      throw new DestinationError(
        `host ${host} is a loopback, link-local or private address: outputs may point only at public addresses (OUTPUT_ALLOW_PRIVATE)`,
      );
    }
  }
}

/** Resolution, swappable in tests. */
export type Resolver = (host: string) => Promise<string[]>;

/** The system resolver, as the sidecar's ffmpeg will use it; a name that takes longer than this does not resolve. */
const RESOLVE_TIMEOUT_MS = 5000;

export const systemResolver: Resolver = async (host) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })), RESOLVE_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([lookup(host, { all: true, verbatim: true }), timeout])).map((r) => r.address);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * At start: the written checks again, then every address the host name
 * resolves to (as the sidecar's resolver will see it now). A name that does
 * not resolve is refused: nothing could be sent to it anyway.
 */
export async function checkResolvedDestination(
  policy: OutputPolicy,
  url: URL,
  resolve: Resolver = systemResolver,
): Promise<void> {
  checkDestination(policy, url);
  const host = hostOf(url);
  if (isIP(host) !== 0) return;
  // Nothing an address could be refused for.
  if (policy.allowPrivate && policy.allowlist.entries.length === 0 && policy.denylist.entries.length === 0) return;
  const nameAllowed = policy.allowlist.entries.length > 0 && inList(policy.allowlist, host, null);
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (err) {
    throw new DestinationError(
      `host ${host} does not resolve (${(err as { code?: string }).code ?? (err as Error).message})`,
    );
  }
  if (addresses.length === 0) throw new DestinationError(`host ${host} does not resolve`);
  for (const address of addresses) {
    if (inList(policy.denylist, null, address))
      throw new DestinationError(`host ${host} resolves to ${address}, on OUTPUT_DENYLIST`);
    if (nameAllowed) continue;
    if (policy.allowlist.entries.length > 0) {
      if (!inList(policy.allowlist, null, address))
        throw new DestinationError(`host ${host} (${address}) is not on OUTPUT_ALLOWLIST`);
      continue;
    }
    const a = unmapped(address);
    if (!policy.allowPrivate && NON_PUBLIC.check(a.address, a.type)) {
      throw new DestinationError(
        `host ${host} resolves to ${address}, a loopback, link-local or private address: outputs may point only at public addresses (OUTPUT_ALLOW_PRIVATE)`,
      );
    }
  }
}
