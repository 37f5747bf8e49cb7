import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  DestinationError,
  checkDestination,
  checkResolvedDestination,
  parseDestinationList,
  type OutputPolicy,
  type Resolver,
} from '../../src/domain/channels/output-destinations.ts';
import { checkOutputDestination, rtmpUrlSchema, srtUrlSchema } from '../../src/domain/channels/outputs.ts';

const policy = (env: Record<string, string> = {}): OutputPolicy => loadConfig({ ...env }).outputs;
const refused = (p: OutputPolicy, url: string) => {
  try {
    checkDestination(p, new URL(url));
    return null;
  } catch (err) {
    if (err instanceof DestinationError) return err.message;
    throw err;
  }
};
const resolvesTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses;

describe('output destinations, default policy (private refused)', () => {
  const p = policy();

  it.each([
    'srt://127.0.0.1:16379',
    'srt://127.1.2.3:9000',
    'srt://[::1]:9000',
    'srt://[::ffff:127.0.0.1]:9000',
    'srt://10.1.2.3:9000',
    'srt://172.20.0.1:9000',
    'srt://192.168.1.10:9000',
    'srt://169.254.169.254:80',
    'srt://100.64.0.1:9000',
    'srt://0.0.0.0:9000',
    'srt://[fe80::1]:9000',
    'srt://[fd00::1]:9000',
    'rtmp://localhost/app',
    'rtmp://LOCALHOST./app',
    'rtmp://anything.localhost/app',
  ])('refuses %s', (url) => {
    expect(refused(p, url)).toMatch(/OUTPUT_ALLOW_PRIVATE/);
  });

  it.each(['srt://2130706433:9000', 'srt://0x7f.1:9000', 'srt://017700000001:9000', 'rtmp://127.1/app'])(
    'refuses %s, a number the resolver reads as an address',
    (url) => {
      expect(refused(p, url)).toMatch(/must be a host name or a dotted IPv4 address/);
    },
  );

  it.each([
    'srt://203.0.114.7:9000',
    'srt://ingest.example.com:9000',
    'rtmp://[2a00:1450::1]/live',
    'rtmps://live.example.net/app',
  ])('accepts %s', (url) => {
    expect(refused(p, url)).toBeNull();
  });

  it('at start, refuses a name that resolves to a private address, and one that does not resolve', async () => {
    const url = new URL('srt://ingest.example.com:9000');
    await expect(checkResolvedDestination(p, url, resolvesTo('93.184.216.34', '127.0.0.1'))).rejects.toThrow(
      /resolves to 127\.0\.0\.1, a loopback/,
    );
    await expect(checkResolvedDestination(p, url, resolvesTo('93.184.216.34'))).resolves.toBeUndefined();
    const nx: Resolver = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    await expect(checkResolvedDestination(p, url, nx)).rejects.toThrow(
      'host ingest.example.com does not resolve (ENOTFOUND)',
    );
  });
});

describe('output destinations, configured', () => {
  it('OUTPUT_ALLOW_PRIVATE=true accepts loopback, and the resolver is not asked', async () => {
    const p = policy({ OUTPUT_ALLOW_PRIVATE: 'true' });
    expect(refused(p, 'srt://127.0.0.1:9000')).toBeNull();
    const never: Resolver = async () => {
      throw new Error('asked');
    };
    await expect(checkResolvedDestination(p, new URL('srt://localhost:9000'), never)).resolves.toBeUndefined();
  });

  it('the denylist wins, by range or name, also with private addresses allowed', async () => {
    const p = policy({ OUTPUT_ALLOW_PRIVATE: 'true', OUTPUT_DENYLIST: '10.9.0.0/16, *.corp.example, redis.internal' });
    expect(refused(p, 'srt://10.9.1.1:9000')).toMatch(/OUTPUT_DENYLIST/);
    expect(refused(p, 'srt://db.corp.example:9000')).toMatch(/OUTPUT_DENYLIST/);
    expect(refused(p, 'srt://redis.internal:9000')).toMatch(/OUTPUT_DENYLIST/);
    expect(refused(p, 'srt://10.8.1.1:9000')).toBeNull();
    await expect(checkResolvedDestination(p, new URL('srt://x.example:9000'), resolvesTo('10.9.3.3'))).rejects.toThrow(
      /OUTPUT_DENYLIST/,
    );
  });

  it('an allowlist is the only place outputs may go; a private range on it is allowed', async () => {
    const p = policy({ OUTPUT_ALLOWLIST: '10.20.0.0/16, cdn.example.com' });
    expect(refused(p, 'srt://10.20.1.1:9000')).toBeNull();
    expect(refused(p, 'srt://203.0.114.7:9000')).toMatch(/not on OUTPUT_ALLOWLIST/);
    await expect(
      checkResolvedDestination(p, new URL('srt://cdn.example.com:9000'), resolvesTo('192.168.3.3')),
    ).resolves.toBeUndefined();
    await expect(
      checkResolvedDestination(p, new URL('srt://other.example.com:9000'), resolvesTo('10.20.5.5')),
    ).resolves.toBeUndefined();
    await expect(
      checkResolvedDestination(p, new URL('srt://other.example.com:9000'), resolvesTo('8.8.8.8')),
    ).rejects.toThrow(/not on OUTPUT_ALLOWLIST/);
  });

  it('a malformed list entry stops the configuration with the variable named', () => {
    expect(() => parseDestinationList('OUTPUT_DENYLIST', '10.0.0.0/33')).toThrow(
      'OUTPUT_DENYLIST: 10.0.0.0/33 has a bad prefix length',
    );
    expect(() => loadConfig({ OUTPUT_ALLOWLIST: 'not a/host' })).toThrow(/OUTPUT_ALLOWLIST/);
  });

  it('names the input field when an output is refused', () => {
    expect(() => checkOutputDestination('input.output', { srt: { url: 'srt://127.0.0.1:1' } }, policy())).toThrow(
      expect.objectContaining({
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input.output.srt.url' }),
      }),
    );
  });
});

describe('SRT and RTMP URLs', () => {
  const srtIssue = (url: string) => srtUrlSchema.safeParse(url).error?.issues[0]?.message ?? null;
  const rtmpIssue = (url: string) => rtmpUrlSchema.safeParse(url).error?.issues[0]?.message ?? null;

  it.each([
    ['srt://h:9000?mode=listener', /query option "mode" is not allowed/],
    ['srt://h:9000?enforced_encryption=0', /query option "enforced_encryption" is not allowed/],
    ['srt://h:9000?latency=200&Mode=caller', /query option "Mode" is not allowed/],
    ['srt://h:9000?passphrase=0123456789', /must not carry the passphrase/],
    ['srt://h:9000#passphrase=0123456789', /must not contain a fragment/],
    ['srt://h:9000?latency=200#x', /must not contain a fragment/],
  ])('refuses %s', (url, message) => {
    expect(srtIssue(url)).toMatch(message);
  });

  it('accepts the tuning options', () => {
    expect(srtIssue('srt://h:9000?latency=200&streamid=#!::r=live&pbkeylen=32')).toMatch(/fragment/);
    expect(srtIssue('srt://h:9000?latency=200&streamid=live%2Fa&pbkeylen=32&maxbw=0')).toBeNull();
  });

  it('refuses a fragment in RTMP', () => {
    expect(rtmpIssue('rtmp://h/app#x')).toMatch(/must not contain a fragment/);
    expect(rtmpIssue('rtmp://h/app')).toBeNull();
  });
});

describe('the system resolver', () => {
  it('resolves localhost to loopback, which the default policy refuses at start', async () => {
    await expect(checkResolvedDestination(policy(), new URL('srt://localhost:9000'))).rejects.toThrow(
      /localhost is this machine/,
    );
    // A name not caught by its spelling: checked by what it resolves to (localhost.localdomain-like aliases, /etc/hosts).
    const { systemResolver } = await import('../../src/domain/channels/output-destinations.ts');
    expect((await systemResolver('localhost')).some((a) => a === '127.0.0.1' || a === '::1')).toBe(true);
  });
});
