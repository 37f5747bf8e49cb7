import { z } from 'zod';
import { OutputType } from '../../../prisma/generated/client/enums.ts';
import { badInput } from '../../errors.ts';
import { MAX_DECKLINK_DEVICES } from '../cluster/nodes.ts';
import { DestinationError, checkDestination, type OutputPolicy } from './output-destinations.ts';
import type { OutputSecret } from './secrets.ts';
import { nameSchema } from '../shared/validation.ts';

/**
 * A channel's output: the GraphQL input (one member set), the public settings
 * stored in channels.output, and the write-only secret kept apart in
 * channel_secrets. Pure functions, table-tested.
 */
export interface OutputInput {
  decklink?: { deviceIndex: number } | null;
  ndi?: { name: string } | null;
  srt?: { url: string; latencyMs?: number | null; passphrase?: string | null } | null;
  rtmp?: { url: string; streamKey?: string | null } | null;
}

/** What channels.output holds per type: never a secret, only whether one is set. */
export type StoredOutput =
  | { deviceIndex: number }
  | { name: string }
  | { url: string; latencyMs: number | null; passphraseSet: boolean }
  | { url: string; streamKeySet: boolean };

/** The ChannelOutput union member, tagged for resolveType. */
export type OutputView =
  | { kind: 'DECKLINK'; deviceIndex: number }
  | { kind: 'NDI'; name: string }
  | { kind: 'SRT'; url: string; latencyMs: number | null; passphraseSet: boolean }
  | { kind: 'RTMP'; url: string; streamKeySet: boolean };

/** keep: leave channel_secrets as it is; set: replace it (null removes it). */
export type SecretChange = { kind: 'keep' } | { kind: 'set'; secret: OutputSecret | null };

export interface OutputPlan {
  outputType: OutputType;
  output: StoredOutput;
  /** Mirrors the DeckLink device index for the channels_decklink_device_check constraint. */
  decklinkDevice: number | null;
  secret: SecretChange;
}

const MEMBERS = {
  decklink: OutputType.DECKLINK,
  ndi: OutputType.NDI,
  srt: OutputType.SRT,
  rtmp: OutputType.RTMP,
} as const;

/** Credentials in a URL would be shown to every reader of the channel. */
function checkUrl(value: string, ctx: z.RefinementCtx, schemes: string[], example: string): URL | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `must be a URL like ${example}` });
    return null;
  }
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return null;
  };
  if (!schemes.includes(url.protocol)) return fail(`must start with ${schemes.map((s) => `${s}//`).join(' or ')}`);
  if (!url.hostname) return fail('must name a host');
  if (url.username || url.password) return fail('must not contain credentials');
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535)) return fail('port must be 1-65535');
  // What follows '#' never reaches the server, but a library may still read it as options.
  if (value.includes('#')) return fail('must not contain a fragment (#)');
  return url;
}

/**
 * libsrt options an output URL may carry: tuning and identification. The
 * others change who connects to whom or switch protection off (mode,
 * enforced_encryption, passphrase…), so they are refused.
 */
export const SRT_QUERY_KEYS = new Set([
  'latency',
  'rcvlatency',
  'peerlatency',
  'streamid',
  'pbkeylen',
  'maxbw',
  'inputbw',
  'oheadbw',
  'payload_size',
  'pkt_size',
  'tlpktdrop',
  'nakreport',
  'connect_timeout',
  'sndbuf',
  'rcvbuf',
  'ipttl',
  'iptos',
]);

export const srtUrlSchema = z
  .string()
  .trim()
  .max(2048, 'must be at most 2048 characters')
  .superRefine((value, ctx) => {
    const url = checkUrl(value, ctx, ['srt:'], 'srt://host:port');
    if (!url) return;
    const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (url.port === '') return fail('must include a port (srt://host:port)');
    if (url.pathname !== '' && url.pathname !== '/') return fail('must not have a path (srt://host:port)');
    for (const key of url.searchParams.keys()) {
      const lower = key.toLowerCase();
      if (lower === 'passphrase') return fail('must not carry the passphrase: set passphrase instead');
      if (!SRT_QUERY_KEYS.has(lower)) {
        return fail(`query option ${JSON.stringify(key)} is not allowed (allowed: ${[...SRT_QUERY_KEYS].join(', ')})`);
      }
    }
  });

export const srtLatencySchema = z.number().int().min(0, 'must be 0 or more').max(10_000, 'must be at most 10000');

/** SRT's own rule (SRTO_PASSPHRASE): 10 to 79 characters. */
export const srtPassphraseSchema = z
  .string()
  .min(10, 'must be 10 to 79 characters')
  .max(79, 'must be 10 to 79 characters');

export const rtmpUrlSchema = z
  .string()
  .trim()
  .max(2048, 'must be at most 2048 characters')
  .superRefine((value, ctx) => {
    const url = checkUrl(value, ctx, ['rtmp:', 'rtmps:'], 'rtmp://host/app');
    if (!url) return;
    if (url.pathname.split('/').filter(Boolean).length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must include an application path (rtmp://host/app)' });
    }
  });

export const streamKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .regex(/^\S+$/, 'must not contain whitespace');

export const ndiNameSchema = nameSchema(128);

export const deviceIndexSchema = z
  .number()
  .int()
  .min(1, 'must be 1 or more (devices are numbered from 1)')
  .max(MAX_DECKLINK_DEVICES, `must be at most ${MAX_DECKLINK_DEVICES}`);

/** The one member set; GraphQL's @oneOf already guarantees it, this guards direct callers. */
function chosenMember(field: string, input: OutputInput): keyof typeof MEMBERS {
  const set = (Object.keys(MEMBERS) as (keyof typeof MEMBERS)[]).filter(
    (k) => input[k] !== undefined && input[k] !== null,
  );
  if (set.length !== 1) throw badInput(field, 'exactly one of decklink, ndi, srt, rtmp must be set');
  return set[0] as keyof typeof MEMBERS;
}

function previousUrl(previous: { output: unknown } | null): string | null {
  const o = previous?.output;
  return typeof o === 'object' && o !== null && typeof (o as Record<string, unknown>).url === 'string'
    ? ((o as Record<string, unknown>).url as string)
    : null;
}

/**
 * Whether two output URLs send to the same place: scheme, host, port and path
 * (an RTMP application) equal. Query options (latency, streamid…) may differ.
 */
export function sameDestination(before: string | null, after: string): boolean {
  if (before === null) return false;
  let a: URL;
  let b: URL;
  try {
    a = new URL(before.trim());
    b = new URL(after.trim());
  } catch {
    return false;
  }
  const path = (u: URL) => u.pathname.replace(/\/+$/, '') || '/';
  return (
    a.protocol === b.protocol &&
    a.hostname.toLowerCase().replace(/\.$/, '') === b.hostname.toLowerCase().replace(/\.$/, '') &&
    a.port === b.port &&
    path(a) === path(b)
  );
}

/** The output's destination against the installation's policy (see output-destinations.ts). */
export function checkOutputDestination(field: string, input: OutputInput, policy: OutputPolicy): void {
  const [member, url] = input.srt ? ['srt', input.srt.url] : input.rtmp ? ['rtmp', input.rtmp.url] : [null, null];
  if (member === null || url === null) return;
  try {
    checkDestination(policy, new URL(url.trim()));
  } catch (err) {
    if (err instanceof DestinationError) throw badInput(`${field}.${member}.url`, err.message);
    throw err;
  }
}

/**
 * Turns an output input into what is stored. `previous` is the channel's current
 * output on update: with the same type and destination, an omitted secret keeps
 * the stored one and null removes it; a change of type, or of the URL's scheme,
 * host, port or path, drops the old secret unless a new one is given.
 */
export function planOutput(
  field: string,
  input: OutputInput,
  previous: { outputType: OutputType; output: unknown } | null = null,
): OutputPlan {
  const member = chosenMember(field, input);
  const outputType = MEMBERS[member];
  const sameType = previous?.outputType === outputType;
  const wasSet = (flag: 'passphraseSet' | 'streamKeySet') =>
    sameType &&
    typeof previous?.output === 'object' &&
    previous.output !== null &&
    (previous.output as Record<string, unknown>)[flag] === true;

  const secretFor = (
    value: string | null | undefined,
    name: keyof OutputSecret,
    flag: 'passphraseSet' | 'streamKeySet',
    url: string,
  ) => {
    // A secret was given for one destination: a new one does not inherit it (it would be sent there at the next start).
    if (value === undefined && sameType && !sameDestination(previousUrl(previous), url)) {
      return { secret: { kind: 'set', secret: null } as SecretChange, isSet: false };
    }
    if (value === undefined && sameType) return { secret: { kind: 'keep' } as SecretChange, isSet: wasSet(flag) };
    if (value === undefined || value === null)
      return { secret: { kind: 'set', secret: null } as SecretChange, isSet: false };
    return { secret: { kind: 'set', secret: { [name]: value } } as SecretChange, isSet: true };
  };
  // Other types carry no secret: a secret left from a previous type goes.
  const noSecret: SecretChange = previous && !sameType ? { kind: 'set', secret: null } : { kind: 'keep' };

  switch (member) {
    case 'decklink': {
      const { deviceIndex } = input.decklink!;
      return { outputType, output: { deviceIndex }, decklinkDevice: deviceIndex, secret: noSecret };
    }
    case 'ndi':
      return { outputType, output: { name: input.ndi!.name }, decklinkDevice: null, secret: noSecret };
    case 'srt': {
      const { url, latencyMs, passphrase } = input.srt!;
      const { secret, isSet } = secretFor(passphrase, 'passphrase', 'passphraseSet', url);
      return {
        outputType,
        output: { url, latencyMs: latencyMs ?? null, passphraseSet: isSet },
        decklinkDevice: null,
        secret,
      };
    }
    case 'rtmp': {
      const { url, streamKey } = input.rtmp!;
      const { secret, isSet } = secretFor(streamKey, 'streamKey', 'streamKeySet', url);
      return { outputType, output: { url, streamKeySet: isSet }, decklinkDevice: null, secret };
    }
  }
}

/** A DeckLink device must exist on the channel's node (devices 1..n); unplaced channels are checked when placed. */
export function checkDeviceOnNode(
  field: string,
  deviceIndex: number,
  node: { hostname: string; decklinkDevices: number } | null,
): void {
  if (!node || deviceIndex <= node.decklinkDevices) return;
  const has = node.decklinkDevices === 1 ? '1 DeckLink device' : `${node.decklinkDevices} DeckLink devices`;
  throw badInput(field, `device ${deviceIndex} does not exist: node ${node.hostname} has ${has}`);
}

/** Reads channels.output back as the union member; tolerant of rows written before a field existed. */
export function outputView(outputType: OutputType, output: unknown): OutputView {
  const o = (typeof output === 'object' && output !== null ? output : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  switch (outputType) {
    case OutputType.DECKLINK:
      return { kind: 'DECKLINK', deviceIndex: typeof o.deviceIndex === 'number' ? o.deviceIndex : 0 };
    case OutputType.NDI:
      return { kind: 'NDI', name: str(o.name) };
    case OutputType.SRT:
      return {
        kind: 'SRT',
        url: str(o.url),
        latencyMs: typeof o.latencyMs === 'number' ? o.latencyMs : null,
        passphraseSet: o.passphraseSet === true,
      };
    case OutputType.RTMP:
      return { kind: 'RTMP', url: str(o.url), streamKeySet: o.streamKeySet === true };
  }
}
