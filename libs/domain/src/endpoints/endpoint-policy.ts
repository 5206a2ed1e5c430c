import ipaddr from 'ipaddr.js';

/**
 * Where webhooks may go (SSRF defence). Checked when a subscription is saved and again
 * when the deliverer connects, after DNS resolution, on the very addresses it connects
 * to. Only globally routable unicast addresses are allowed, unless the operator lists a
 * network in ENDPOINT_ALLOWED_NETWORKS (development and tests).
 */
export type Cidr = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface EndpointPolicy {
  allowHttp: boolean;
  allowedNetworks: readonly Cidr[];
}

export type EndpointCode =
  | 'invalid_url'
  | 'url_not_https'
  | 'url_has_credentials'
  | 'url_too_long'
  | 'address_not_allowed'
  | 'unresolvable_host';

export class EndpointError extends Error {
  constructor(
    readonly code: EndpointCode,
    message: string,
  ) {
    super(message);
    this.name = 'EndpointError';
  }
}

export type Checked<T> = ({ ok: true } & T) | { ok: false; code: EndpointCode; message: string };

/** Networks never reachable, whatever ipaddr.js calls their range. */
const BLOCKED_V4 = [
  '0.0.0.0/8', // "this network", 0.0.0.0 reaches the local host
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT; Alibaba Cloud metadata 100.100.100.200
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local; AWS/GCP/Azure/OpenStack metadata 169.254.169.254, ECS 169.254.170.2
  '168.63.129.16/32', // Azure platform address (wireserver, instance configuration); publicly numbered
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments; Oracle Cloud metadata 192.0.0.192
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4', // reserved, and 255.255.255.255
].map((cidr) => ipaddr.parseCIDR(cidr));

const BLOCKED_V6 = [
  '::/128',
  '::1/128',
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard-only
  '2001::/32', // Teredo: the embedded client address is obfuscated; refuse outright
  '2001:db8::/32',
  'fc00::/7', // unique local; AWS IPv6 metadata fd00:ec2::254
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
].map((cidr) => ipaddr.parseCIDR(cidr));

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const parts = address.parts;
  const v4 = (high: number, low: number) =>
    new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  // IPv4-compatible ::a.b.c.d (deprecated, but still routed by some stacks)
  if (parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || parts[7]! > 1))
    return v4(parts[6]!, parts[7]!);
  // NAT64 well-known prefix 64:ff9b::/96
  if (address.match(ipaddr.parseCIDR('64:ff9b::/96'))) return v4(parts[6]!, parts[7]!);
  // 6to4 2002:aabb:ccdd::/48
  if (parts[0] === 0x2002) return v4(parts[1]!, parts[2]!);
  return undefined;
}

function inAny(address: ipaddr.IPv4 | ipaddr.IPv6, networks: readonly Cidr[]): boolean {
  return networks.some(
    ([network, bits]) => address.kind() === network.kind() && address.match(network, bits),
  );
}

/** Is this IP address (any textual form ipaddr.js accepts) a place a webhook may go? */
export function checkAddress(ip: string, policy: EndpointPolicy): Checked<object> {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(bare))
    return { ok: false, code: 'invalid_url', message: `${bare} is not an IP address` };
  const parsed = ipaddr.parse(bare);
  // An IPv6 address that carries an IPv4 one is a way to that IPv4 address (a NAT64
  // gateway or a 6to4 relay takes it there), so it is judged as that address alone:
  // allowing an IPv6 prefix (64:ff9b::/96 on an IPv6-only cluster) must not let in the
  // private and metadata addresses behind it.
  const address =
    parsed.kind() === 'ipv6' ? (embeddedIpv4(parsed as ipaddr.IPv6) ?? parsed) : parsed;
  if (inAny(address, policy.allowedNetworks)) return { ok: true };
  const refused =
    address.kind() === 'ipv4'
      ? inAny(address, BLOCKED_V4)
      : inAny(address, BLOCKED_V6) || (address as ipaddr.IPv6).range() !== 'unicast';
  if (refused) {
    return {
      ok: false,
      code: 'address_not_allowed',
      message: `${bare} is a private, loopback, link-local, metadata or reserved address`,
    };
  }
  return { ok: true };
}

const MAX_URL_LENGTH = 2048;

/** The URL rules that need no DNS: syntax, scheme, credentials, and IP literals in any spelling. */
export function checkEndpointUrl(raw: string, policy: EndpointPolicy): Checked<{ url: URL }> {
  if (raw.length > MAX_URL_LENGTH)
    return {
      ok: false,
      code: 'url_too_long',
      message: `url is longer than ${MAX_URL_LENGTH} characters`,
    };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, code: 'invalid_url', message: 'url is not an absolute URL' };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return { ok: false, code: 'url_not_https', message: 'url must use https://' };
  }
  if (url.username || url.password) {
    return {
      ok: false,
      code: 'url_has_credentials',
      message: 'url must not carry credentials (user:password@); use custom headers',
    };
  }
  if (!url.hostname) return { ok: false, code: 'invalid_url', message: 'url has no host' };
  // Nothing listens on port 0: no request to it can ever be delivered.
  if (url.port === '0') return { ok: false, code: 'invalid_url', message: 'url has port 0' };
  // The WHATWG parser has already turned decimal, hex, octal and short IPv4 forms into
  // dotted quads, and bracketed IPv6 into its canonical form.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host)) {
    const checked = checkAddress(host, policy);
    if (!checked.ok) return checked;
  }
  return { ok: true, url };
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

/**
 * Resolves a host and checks every answer; throws EndpointError when any is refused or
 * none comes back. Returns the checked addresses: connect to these and nothing else.
 *
 * A name that does not resolve and one that resolves inside are refused alike, with one
 * code and one message. Customers read it, at save time and in the attempt log; if the
 * two differed, trying names would tell a tenant which exist on the network Hookpost
 * runs in (`redis`, `postgres.default.svc.cluster.local`, `db.corp.example.com`), and
 * with each answer left out of the message, that was still a map of the inside.
 */
export async function resolveAndCheck(
  host: string,
  policy: EndpointPolicy,
  resolve: Resolver,
): Promise<Array<{ address: string; family: 4 | 6 }>> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(bare)) {
    const checked = checkAddress(bare, policy);
    if (!checked.ok) throw new EndpointError(checked.code, checked.message);
    return [{ address: bare, family: ipaddr.parse(bare).kind() === 'ipv4' ? 4 : 6 }];
  }
  const unreachable = () =>
    new EndpointError(
      'unresolvable_host',
      `the host ${bare} has no address webhooks may reach: it does not resolve, or resolves to a private, loopback, link-local, metadata or reserved address`,
    );
  let answers: Array<{ address: string; family: 4 | 6 }>;
  try {
    answers = await resolve(bare);
  } catch {
    throw unreachable();
  }
  if (answers.length === 0) throw unreachable();
  if (answers.some((answer) => !checkAddress(answer.address, policy).ok)) throw unreachable();
  return answers;
}

/** ENDPOINT_ALLOWED_NETWORKS: comma-separated CIDRs; a bare address is a /32 or /128. */
export function parseAllowedNetworks(value: string): Cidr[] {
  const { networks, problem } = readNetworks(value);
  if (problem) throw new EndpointError('invalid_url', `ENDPOINT_ALLOWED_NETWORKS: ${problem}`);
  return networks;
}

/** What is wrong with an ENDPOINT_ALLOWED_NETWORKS value, if anything (for the config check). */
export function allowedNetworksProblem(value: string): string | undefined {
  return readNetworks(value).problem;
}

/** Judges every entry, so that one start names every bad one. */
function readNetworks(value: string): { networks: Cidr[]; problem?: string } {
  const networks: Cidr[] = [];
  const bad: string[] = [];
  for (const entry of value.split(',').map((item) => item.trim())) {
    if (!entry) continue;
    const network = parseNetwork(entry);
    if (network) networks.push(network);
    else bad.push(JSON.stringify(entry));
  }
  if (bad.length === 0) return { networks };
  const verb = bad.length === 1 ? 'is not a CIDR' : 'are not CIDRs';
  return { networks, problem: `${bad.join(', ')} ${verb} such as 127.0.0.1/32` };
}

function parseNetwork(entry: string): Cidr | undefined {
  try {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const address = ipaddr.parse(entry);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** The policy a service runs with, and the warnings it must log when it is relaxed. */
export function endpointPolicyFromSettings(
  allowHttp: boolean,
  allowedNetworks: string,
): { policy: EndpointPolicy; warnings: string[] } {
  const policy = { allowHttp, allowedNetworks: parseAllowedNetworks(allowedNetworks) };
  const warnings: string[] = [];
  if (allowHttp)
    warnings.push(
      'ALLOW_HTTP_ENDPOINTS is on: webhooks may be sent over plain http (development only)',
    );
  if (policy.allowedNetworks.length > 0) {
    warnings.push(
      `ENDPOINT_ALLOWED_NETWORKS lets webhooks reach ${allowedNetworks} (development only)`,
    );
  }
  return { policy, warnings };
}
