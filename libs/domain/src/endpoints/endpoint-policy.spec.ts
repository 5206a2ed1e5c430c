import { describe, expect, it } from 'vitest';
import {
  allowedNetworksProblem,
  checkAddress,
  checkEndpointUrl,
  endpointPolicyFromSettings,
  parseAllowedNetworks,
  resolveAndCheck,
  type EndpointPolicy,
} from './endpoint-policy.js';

const strict: EndpointPolicy = { allowHttp: false, allowedNetworks: [] };
const dev: EndpointPolicy = {
  allowHttp: true,
  allowedNetworks: parseAllowedNetworks('127.0.0.1/32,::1'),
};

describe('endpoint URLs (no DNS)', () => {
  it.each([
    'https://hooks.example.com/mail',
    'https://8.8.8.8/hook',
    'https://[2606:4700:4700::1111]/hook',
    'https://example.com:8443/a?b=c',
  ])('accepts %s', (url) => expect(checkEndpointUrl(url, strict).ok).toBe(true));

  it.each([
    ['http://example.com/', 'url_not_https'],
    ['ftp://example.com/', 'url_not_https'],
    ['not a url', 'invalid_url'],
    ['/relative', 'invalid_url'],
    ['https://user:pass@example.com/', 'url_has_credentials'],
    ['https://example.com:0/hook', 'invalid_url'],
    ['https://example.com@127.0.0.1/', 'url_has_credentials'],
    [`https://example.com/${'a'.repeat(2100)}`, 'url_too_long'],
    // Every spelling of loopback and the unspecified address.
    ['https://127.0.0.1/', 'address_not_allowed'],
    ['https://127.1/', 'address_not_allowed'],
    ['https://2130706433/', 'address_not_allowed'],
    ['https://0x7f000001/', 'address_not_allowed'],
    ['https://0x7f.0.0.1/', 'address_not_allowed'],
    ['https://0177.0.0.1/', 'address_not_allowed'],
    ['https://017700000001/', 'address_not_allowed'],
    ['https://127.0.0.1./', 'address_not_allowed'],
    ['https://0.0.0.0/', 'address_not_allowed'],
    ['https://0/', 'address_not_allowed'],
    ['https://[::1]/', 'address_not_allowed'],
    ['https://[::]/', 'address_not_allowed'],
    ['https://[0:0:0:0:0:0:0:1]/', 'address_not_allowed'],
    // IPv6 forms that carry an IPv4 address.
    ['https://[::ffff:127.0.0.1]/', 'address_not_allowed'],
    ['https://[::ffff:7f00:1]/', 'address_not_allowed'],
    ['https://[::127.0.0.1]/', 'address_not_allowed'],
    ['https://[64:ff9b::a9fe:a9fe]/', 'address_not_allowed'],
    ['https://[2002:a9fe:a9fe::]/', 'address_not_allowed'],
    ['https://[::ffff:a9fe:a9fe]/', 'address_not_allowed'],
    // Private networks and cloud metadata.
    ['https://10.0.0.1/', 'address_not_allowed'],
    ['https://172.16.5.4/', 'address_not_allowed'],
    ['https://192.168.1.1/', 'address_not_allowed'],
    ['https://169.254.169.254/latest/meta-data/', 'address_not_allowed'],
    ['https://169.254.170.2/', 'address_not_allowed'],
    ['https://100.100.100.200/', 'address_not_allowed'],
    ['https://192.0.0.192/', 'address_not_allowed'],
    ['https://[fd00:ec2::254]/', 'address_not_allowed'],
    ['https://[fe80::1]/', 'address_not_allowed'],
    ['https://224.0.0.1/', 'address_not_allowed'],
    ['https://255.255.255.255/', 'address_not_allowed'],
    ['https://198.18.0.1/', 'address_not_allowed'],
    ['https://[2001:db8::1]/', 'address_not_allowed'],
  ])('refuses %s with %s', (url, code) => {
    expect(checkEndpointUrl(url, strict)).toMatchObject({ ok: false, code });
  });

  it('lets an operator allow listed networks and plain http, and nothing more', () => {
    expect(checkEndpointUrl('http://127.0.0.1:8080/hook', dev).ok).toBe(true);
    expect(checkEndpointUrl('http://[::1]:8080/hook', dev).ok).toBe(true);
    expect(checkEndpointUrl('http://[::ffff:127.0.0.1]/', dev).ok).toBe(true);
    expect(checkEndpointUrl('http://127.0.0.2/', dev)).toMatchObject({
      ok: false,
      code: 'address_not_allowed',
    });
    expect(checkEndpointUrl('http://10.0.0.1/', dev)).toMatchObject({
      ok: false,
      code: 'address_not_allowed',
    });
    expect(checkEndpointUrl('http://169.254.169.254/', dev)).toMatchObject({
      ok: false,
      code: 'address_not_allowed',
    });
  });

  it('judges an IPv6 address that carries an IPv4 one as that IPv4 address alone', () => {
    // An IPv6-only cluster reaching IPv4 receivers through NAT64 or 6to4.
    expect(checkAddress('64:ff9b::5db8:d70e', strict).ok).toBe(true);
    expect(checkAddress('2002:5db8:d70e::1', strict).ok).toBe(true);
    // Allowing the IPv6 prefix does not let in what is private behind it.
    for (const prefix of ['64:ff9b::/96', '2002::/16', '::ffff:0:0/96']) {
      const policy = { ...strict, allowedNetworks: parseAllowedNetworks(prefix) };
      for (const address of [
        '64:ff9b::a9fe:a9fe',
        '64:ff9b::a00:5',
        '2002:a00:5::',
        '::ffff:a9fe:a9fe',
      ])
        expect(checkAddress(address, policy), `${address} with ${prefix}`).toMatchObject({
          ok: false,
          code: 'address_not_allowed',
        });
    }
    // An allowed IPv4 network covers its addresses in any IPv6 spelling.
    const lab = { ...strict, allowedNetworks: parseAllowedNetworks('10.0.0.0/24') };
    expect(checkAddress('64:ff9b::a00:5', lab).ok).toBe(true);
    expect(checkAddress('::ffff:10.0.0.5', lab).ok).toBe(true);
  });

  it('judges addresses directly too', () => {
    expect(checkAddress('93.184.216.34', strict).ok).toBe(true);
    expect(checkAddress('::ffff:10.1.2.3', strict).ok).toBe(false);
    expect(checkAddress('not-an-ip', strict)).toMatchObject({ ok: false, code: 'invalid_url' });
  });
});

describe('resolveAndCheck', () => {
  const answers =
    (...addresses: string[]) =>
    async () =>
      addresses.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));

  it('returns the checked public addresses', async () => {
    await expect(
      resolveAndCheck('hooks.example.com', strict, answers('93.184.216.34')),
    ).resolves.toEqual([{ address: '93.184.216.34', family: 4 }]);
  });

  /** What a tenant is told about the name: the same whether it exists inside or not. */
  const refusal = async (host: string, resolve: Parameters<typeof resolveAndCheck>[2]) => {
    const error = await resolveAndCheck(host, strict, resolve).then(
      () => undefined,
      (thrown: unknown) => thrown as { code: string; message: string },
    );
    return error && { code: error.code, message: error.message };
  };
  const alike = (host: string) => ({
    code: 'unresolvable_host',
    message: `the host ${host} has no address webhooks may reach: it does not resolve, or resolves to a private, loopback, link-local, metadata or reserved address`,
  });

  it('refuses a name that resolves to a private address, even among public ones', async () => {
    expect(await refusal('evil.example', answers('93.184.216.34', '10.0.0.5'))).toEqual(
      alike('evil.example'),
    );
    expect(await refusal('localhost', answers('127.0.0.1', '::1'))).toEqual(alike('localhost'));
  });

  it('refuses a name that does not resolve', async () => {
    expect(await refusal('nowhere.invalid', answers())).toEqual(alike('nowhere.invalid'));
    const failing = async () => {
      throw new Error('ENOTFOUND');
    };
    expect(await refusal('nowhere.invalid', failing)).toEqual(alike('nowhere.invalid'));
  });

  it('tells a name that exists inside from one that exists nowhere by nothing', async () => {
    const inside = await refusal('redis', answers('10.0.3.7'));
    const nowhere = await refusal('redis', answers());
    expect(inside).toBeDefined();
    expect(inside).toEqual(nowhere);
    expect(inside!.message).not.toContain('10.0.3.7');
  });
});

describe('settings', () => {
  it('parses allowed networks and names a bad entry', () => {
    expect(parseAllowedNetworks('127.0.0.1/32, ::1/128,10.0.0.0/8')).toHaveLength(3);
    expect(() => parseAllowedNetworks('127.0.0.1/32,banana')).toThrow(/"banana"/);
  });

  it('names every bad allowed network for the config check', () => {
    expect(allowedNetworksProblem(' 127.0.0.1/32, ::1 ,')).toBeUndefined();
    expect(allowedNetworksProblem('banana,10.0.0.0/8,10.0.0.0/40')).toBe(
      '"banana", "10.0.0.0/40" are not CIDRs such as 127.0.0.1/32',
    );
  });

  it('warns whenever the policy is relaxed', () => {
    expect(endpointPolicyFromSettings(false, '').warnings).toEqual([]);
    expect(endpointPolicyFromSettings(true, '127.0.0.1/32').warnings).toHaveLength(2);
  });
});
