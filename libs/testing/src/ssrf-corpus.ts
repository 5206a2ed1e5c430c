/**
 * Ways to aim a webhook at the inside of the network (SSRF), one list for every test of
 * the endpoint rules: at save time (REST and gRPC) and when the deliverer connects.
 * Every entry must be refused by a policy that allows no private network; loopback
 * addresses other than 127.0.0.1 are used where a test runs with 127.0.0.1/32 allowed.
 */
export interface SsrfTrick {
  /** What the trick is, for test names. */
  name: string;
  /** The URL's host as an attacker writes it. */
  host: string;
  /**
   * A DNS name's answers: when the API checks it on save, and when the deliverer
   * connects. They differ for a rebinding name, which is public when checked.
   */
  dns?: { onSave: string[]; onConnect: string[] };
  /**
   * Not the subscription's own URL but where a receiver redirects to (a `30x` with this
   * host in `Location`): the deliverer must not follow it.
   */
  viaRedirect?: true;
}

const PUBLIC = '93.184.215.14';

const name = (
  label: string,
  host: string,
  onConnect: string[],
  onSave: string[] = onConnect,
): SsrfTrick => ({ name: label, host, dns: { onSave, onConnect } });

export const SSRF_CORPUS: readonly SsrfTrick[] = [
  { name: 'loopback, dotted quad', host: '127.0.0.1' },
  { name: 'loopback, decimal integer', host: '2130706433' },
  { name: 'loopback, hexadecimal integer', host: '0x7f000001' },
  { name: 'loopback, dotted hexadecimal', host: '0x7f.0x0.0x0.0x1' },
  { name: 'loopback, dotted octal', host: '0177.0.0.01' },
  { name: 'loopback, octal integer', host: '017700000001' },
  { name: 'loopback, short form', host: '127.1' },
  { name: 'loopback, trailing dot', host: '127.0.0.1.' },
  { name: 'loopback, full-width digits', host: '１２７.０.０.１' },
  { name: 'another loopback address', host: '127.0.0.2' },
  { name: 'unspecified address 0.0.0.0', host: '0.0.0.0' },
  { name: 'unspecified address, shortest form', host: '0' },
  { name: 'IPv6 loopback ::1', host: '[::1]' },
  { name: 'IPv6 loopback, long form', host: '[0:0:0:0:0:0:0:1]' },
  { name: 'IPv6 unspecified ::', host: '[::]' },
  { name: 'IPv4-mapped IPv6 loopback', host: '[::ffff:127.0.0.1]' },
  { name: 'IPv4-mapped IPv6 loopback, hexadecimal', host: '[::ffff:7f00:2]' },
  { name: 'IPv4-compatible IPv6 loopback', host: '[::127.0.0.2]' },
  { name: 'NAT64 prefix around a metadata address', host: '[64:ff9b::a9fe:a9fe]' },
  { name: '6to4 prefix around loopback', host: '[2002:7f00:2::]' },
  { name: 'AWS, GCP and Azure metadata 169.254.169.254', host: '169.254.169.254' },
  { name: 'metadata address, decimal integer', host: '2852039166' },
  { name: 'metadata address, hexadecimal integer', host: '0xa9fea9fe' },
  { name: 'metadata address, dotted octal', host: '0251.0376.0251.0376' },
  { name: 'metadata address, IPv4-mapped IPv6', host: '[::ffff:169.254.169.254]' },
  { name: 'AWS ECS task metadata', host: '169.254.170.2' },
  { name: 'AWS IPv6 metadata fd00:ec2::254', host: '[fd00:ec2::254]' },
  { name: 'Alibaba Cloud metadata', host: '100.100.100.200' },
  { name: 'Oracle Cloud metadata', host: '192.0.0.192' },
  { name: 'Azure platform address (wireserver)', host: '168.63.129.16' },
  { name: 'private network 10/8', host: '10.0.0.1' },
  { name: 'private network 172.16/12', host: '172.16.0.1' },
  { name: 'private network 192.168/16', host: '192.168.0.1' },
  { name: 'IPv6 link-local', host: '[fe80::1]' },
  name('localhost', 'localhost', ['127.0.0.1']),
  name('look-alike of localhost in circled letters', 'ⓛⓞⓒⓐⓛⓗⓞⓢⓣ', ['127.0.0.1']),
  name('GCP metadata name', 'metadata.google.internal', ['169.254.169.254']),
  name('a name that resolves to a private address', 'internal.ssrf.test', ['10.0.0.5']),
  name('a private address among public answers', 'mixed.ssrf.test', [PUBLIC, '127.0.0.2']),
  name('a name that resolves to IPv6 metadata', 'v6-metadata.ssrf.test', ['fd00:ec2::254']),
  name('a name that resolves to IPv4-mapped loopback', 'mapped.ssrf.test', ['::ffff:127.0.0.2']),
  name(
    'DNS rebinding: public when checked, loopback on connect',
    'rebind.ssrf.test',
    ['127.0.0.2'],
    [PUBLIC],
  ),
  { name: 'redirect to another loopback address', host: '127.0.0.2', viaRedirect: true },
  { name: 'redirect to the metadata address', host: '169.254.169.254', viaRedirect: true },
  { name: 'redirect to IPv4-mapped loopback', host: '[::ffff:127.0.0.2]', viaRedirect: true },
];

/** A corpus entry as a URL; `port` is where a test listens, so a mistake would reach it. */
export function ssrfUrl(trick: SsrfTrick, scheme: 'http' | 'https', port?: number): string {
  return `${scheme}://${trick.host}${port === undefined ? '' : `:${port}`}/ssrf`;
}

/**
 * The DNS answers for every corpus name at one moment (`onSave` or `onConnect`), keyed
 * by the host name as the URL parser leaves it (look-alike letters mapped).
 */
export function ssrfHosts(when: 'onSave' | 'onConnect'): Record<string, string[]> {
  return Object.fromEntries(
    SSRF_CORPUS.flatMap((trick) =>
      trick.dns ? [[new URL(ssrfUrl(trick, 'https')).hostname, trick.dns[when]]] : [],
    ),
  );
}
