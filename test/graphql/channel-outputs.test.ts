import { beforeAll, describe, expect, it } from 'vitest';
import { readChannelSecret } from '../../src/domain/channels/secrets.ts';
import { outcome, tokenOf, useTestServer, type Actor } from '../helpers/server.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';

// Output inputs (validation, DeckLink device checks) and write-only secrets;
// roles and lifecycle are in channels.test.ts.
const { server, cast } = useTestServer();
let node: { id: string; hostname: string };
let smallNode: { id: string; hostname: string };

const FIELDS = `id name outputType videoFormat status project { id } node { id }
  output { __typename ... on DeckLinkOutput { deviceIndex } ... on NdiOutput { name }
    ... on SrtOutput { url latencyMs passphraseSet } ... on RtmpOutput { url streamKeySet } }`;
const CREATE = `mutation($input: CreateChannelInput!) { createChannel(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateChannelInput!) { updateChannel(id: $id, input: $input) { ${FIELDS} } }`;

const ndi = () => ({ ndi: { name: `out-${uniq()}` } });

beforeAll(async () => {
  node = await server.services.db.clusterNode.create({ data: { hostname: `big-${uniq()}`, decklinkDevices: 4 } });
  smallNode = await server.services.db.clusterNode.create({
    data: { hostname: `small-${uniq()}`, decklinkDevices: 1 },
  });
});

const fixture = (projectId: string | null, extra: Parameters<typeof insertChannel>[2] = {}) =>
  insertChannel(server.services, projectId, extra);

async function create(actor: Actor, input: Record<string, unknown>) {
  return server.gql(tokenOf(cast, actor), CREATE, {
    input: { name: `ch-${uniq()}`, projectId: cast.home.id, output: ndi(), ...input },
  });
}

describe('input validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['empty name', { name: '   ' }, 'input.name'],
    ['long name', { name: 'x'.repeat(121) }, 'input.name'],
    ['unknown video format', { videoFormat: '1080p9999' }, 'input.videoFormat'],
    ['video format in the wrong case', { videoFormat: 'pal' }, 'input.videoFormat'],
    ['malformed projectId', { projectId: 'p1' }, 'input.projectId'],
    ['malformed nodeId', { nodeId: 'n1' }, 'input.nodeId'],
    ['SRT: not a URL', { output: { srt: { url: 'not a url' } } }, 'input.output.srt.url'],
    ['SRT: wrong scheme', { output: { srt: { url: 'udp://host:9000' } } }, 'input.output.srt.url'],
    ['SRT: no port', { output: { srt: { url: 'srt://host' } } }, 'input.output.srt.url'],
    ['SRT: port 0', { output: { srt: { url: 'srt://host:0' } } }, 'input.output.srt.url'],
    ['SRT: port too large', { output: { srt: { url: 'srt://host:70000' } } }, 'input.output.srt.url'],
    [
      'SRT: passphrase in the query',
      { output: { srt: { url: 'srt://host:9000?passphrase=0123456789' } } },
      'input.output.srt.url',
    ],
    ['SRT: credentials', { output: { srt: { url: 'srt://me:pw@host:9000' } } }, 'input.output.srt.url'],
    [
      'SRT: passphrase in the fragment',
      { output: { srt: { url: 'srt://host:9000#passphrase=0123456789' } } },
      'input.output.srt.url',
    ],
    ['SRT: mode in the query', { output: { srt: { url: 'srt://host:9000?mode=listener' } } }, 'input.output.srt.url'],
    [
      'SRT: encryption switched off',
      { output: { srt: { url: 'srt://host:9000?enforced_encryption=0' } } },
      'input.output.srt.url',
    ],
    ['RTMP: a fragment', { output: { rtmp: { url: 'rtmp://host/app#k' } } }, 'input.output.rtmp.url'],
    [
      'SRT: negative latency',
      { output: { srt: { url: 'srt://host:9000', latencyMs: -1 } } },
      'input.output.srt.latencyMs',
    ],
    [
      'SRT: latency too high',
      { output: { srt: { url: 'srt://host:9000', latencyMs: 10001 } } },
      'input.output.srt.latencyMs',
    ],
    [
      'SRT: short passphrase',
      { output: { srt: { url: 'srt://host:9000', passphrase: '123456789' } } },
      'input.output.srt.passphrase',
    ],
    [
      'SRT: long passphrase',
      { output: { srt: { url: 'srt://host:9000', passphrase: 'p'.repeat(80) } } },
      'input.output.srt.passphrase',
    ],
    ['RTMP: wrong scheme', { output: { rtmp: { url: 'http://host/app' } } }, 'input.output.rtmp.url'],
    ['RTMP: no app', { output: { rtmp: { url: 'rtmp://host' } } }, 'input.output.rtmp.url'],
    [
      'RTMP: empty stream key',
      { output: { rtmp: { url: 'rtmp://host/app', streamKey: '' } } },
      'input.output.rtmp.streamKey',
    ],
    [
      'RTMP: stream key with space',
      { output: { rtmp: { url: 'rtmp://host/app', streamKey: 'a b' } } },
      'input.output.rtmp.streamKey',
    ],
    [
      'RTMP: long stream key',
      { output: { rtmp: { url: 'rtmp://host/app', streamKey: 'k'.repeat(513) } } },
      'input.output.rtmp.streamKey',
    ],
    ['NDI: empty name', { output: { ndi: { name: ' ' } } }, 'input.output.ndi.name'],
    ['NDI: long name', { output: { ndi: { name: 'n'.repeat(129) } } }, 'input.output.ndi.name'],
    ['DeckLink: device 0', { output: { decklink: { deviceIndex: 0 } } }, 'input.output.decklink.deviceIndex'],
    [
      'DeckLink: beyond the node',
      { nodeId: 'NODE', output: { decklink: { deviceIndex: 5 } } },
      'input.output.decklink.deviceIndex',
    ],
  ];

  it.each(cases)('createChannel rejects %s as BAD_USER_INPUT naming the field', async (_label, input, field) => {
    const resolved = input.nodeId === 'NODE' ? { ...input, nodeId: node.id } : input;
    const before = await server.services.db.channel.count();
    const res = await create('editor', resolved);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.errors?.[0]?.message.startsWith(`${field}: `)).toBe(true);
    expect(await server.services.db.channel.count()).toBe(before);
  });

  it.each(cases.filter(([label]) => !label.startsWith('malformed projectId')))(
    'updateChannel rejects %s too',
    async (_label, input, field) => {
      const channel = await fixture(cast.home.id);
      const resolved = input.nodeId === 'NODE' ? { ...input, nodeId: node.id } : input;
      const res = await server.gql(cast.editor.token, UPDATE, { id: channel.id, input: resolved });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    },
  );

  it("the device-count message names the node's device count", async () => {
    const res = await create('editor', { nodeId: node.id, output: { decklink: { deviceIndex: 5 } } });
    expect(res.errors?.[0]?.message).toBe(
      `input.output.decklink.deviceIndex: device 5 does not exist: node ${node.hostname} has 4 DeckLink devices`,
    );
  });

  it('OutputInput takes exactly one member (BAD_USER_INPUT)', async () => {
    for (const output of [{}, { ndi: { name: 'a' }, srt: { url: 'srt://h:1' } }, { ndi: null }]) {
      const res = await create('editor', { output });
      expect([output, outcome(res)]).toEqual([output, 'BAD_USER_INPUT']);
    }
  });

  it('accepts the edge values', async () => {
    const ok = [
      { srt: { url: 'srt://10.0.0.1:65535', latencyMs: 0, passphrase: 'p'.repeat(10) } },
      { srt: { url: 'srt://[::1]:1?latency=200&streamid=a', latencyMs: 10000, passphrase: 'p'.repeat(79) } },
      { rtmp: { url: 'rtmps://live.example.com:443/app/sub' } },
      { decklink: { deviceIndex: 64 } },
      { ndi: { name: 'n'.repeat(128) } },
    ];
    for (const output of ok) expect([output, outcome(await create('editor', { output }))]).toEqual([output, 'OK']);
    expect(outcome(await create('editor', { output: ndi(), videoFormat: 'dci2160p2500' }))).toBe('OK');
  });

  it('a DeckLink output is checked against the node it is given, kept or moved to', async () => {
    const created = await create('editor', { nodeId: node.id, output: { decklink: { deviceIndex: 3 } } });
    const id = created.data?.createChannel.id;
    const moved = await server.gql(cast.editor.token, UPDATE, { id, input: { nodeId: smallNode.id } });
    expect(moved.errors?.[0]).toMatchObject({
      message: `input.nodeId: device 3 does not exist: node ${smallNode.hostname} has 1 DeckLink device`,
      extensions: { code: 'BAD_USER_INPUT', field: 'input.nodeId' },
    });
    const beyondKept = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { output: { decklink: { deviceIndex: 5 } } },
    });
    expect(beyondKept.errors?.[0]?.extensions).toMatchObject({ field: 'input.output.decklink.deviceIndex' });
    const both = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { nodeId: smallNode.id, output: { decklink: { deviceIndex: 1 } } },
    });
    expect(both.data?.updateChannel).toMatchObject({ node: { id: smallNode.id }, output: { deviceIndex: 1 } });
    const unplaced = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { nodeId: null, output: { decklink: { deviceIndex: 8 } } },
    });
    expect(unplaced.data?.updateChannel).toMatchObject({ node: null, output: { deviceIndex: 8 } });
    const toNdi = await server.gql(cast.editor.token, UPDATE, { id, input: { output: ndi() } });
    expect(toNdi.data?.updateChannel.outputType).toBe('NDI');
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id } });
    expect(row.decklinkDevice).toBeNull();
  });
});

describe('output secrets', () => {
  const STREAM_KEY = 'live_s3cr3t-STREAM-key';
  const PASSPHRASE = 'correct horse battery staple';

  async function storedSecret(channelId: string) {
    return readChannelSecret(server.services.db, server.services.config.secretKey, channelId);
  }

  it('are never returned, and stored only as ciphertext', async () => {
    const rtmp = await create('editor', {
      output: { rtmp: { url: 'rtmp://cdn.example.com/live', streamKey: STREAM_KEY } },
    });
    const srt = await create('editor', {
      output: { srt: { url: 'srt://gw.example.com:9000', latencyMs: 120, passphrase: PASSPHRASE } },
    });
    expect(rtmp.data?.createChannel.output).toEqual({
      __typename: 'RtmpOutput',
      url: 'rtmp://cdn.example.com/live',
      streamKeySet: true,
    });
    expect(srt.data?.createChannel.output).toEqual({
      __typename: 'SrtOutput',
      url: 'srt://gw.example.com:9000',
      latencyMs: 120,
      passphraseSet: true,
    });

    const everything = await server.gql(cast.admin.token, `{ channels { ${FIELDS} } }`);
    for (const body of [rtmp, srt, everything].map((r) => JSON.stringify(r))) {
      expect(body).not.toContain(STREAM_KEY);
      expect(body).not.toContain(PASSPHRASE);
    }

    const rows = await server.services.db.$queryRaw<{ channel_id: string; ciphertext: string }[]>`
      SELECT channel_id::text, ciphertext FROM channel_secrets`;
    const channels = await server.services.db.$queryRaw<{ output: unknown }[]>`SELECT output FROM channels`;
    const dump = JSON.stringify([rows, channels]);
    expect(dump).not.toContain(STREAM_KEY);
    expect(dump).not.toContain(PASSPHRASE);
    expect(dump).not.toContain(Buffer.from(STREAM_KEY).toString('base64'));
    expect(rows.map((r) => r.channel_id)).toEqual(
      expect.arrayContaining([rtmp.data?.createChannel.id, srt.data?.createChannel.id]),
    );
    expect(await storedSecret(rtmp.data?.createChannel.id)).toEqual({ streamKey: STREAM_KEY });
    expect(await storedSecret(srt.data?.createChannel.id)).toEqual({ passphrase: PASSPHRASE });
  });

  it('on update: omitted keeps, given replaces, null removes, a type or destination change drops it', async () => {
    const created = await create('editor', {
      output: { rtmp: { url: 'rtmp://a.example/live', streamKey: STREAM_KEY } },
    });
    const id = created.data?.createChannel.id;
    const update = (output: Record<string, unknown>) =>
      server.gql(cast.editor.token, UPDATE, { id, input: { output } });

    const kept = await update({ rtmp: { url: 'rtmp://A.example/live/' } });
    expect(kept.data?.updateChannel.output).toEqual({
      __typename: 'RtmpOutput',
      url: 'rtmp://A.example/live/',
      streamKeySet: true,
    });
    expect(await storedSecret(id)).toEqual({ streamKey: STREAM_KEY });

    // Another server must not receive the key given for the first one.
    const moved = await update({ rtmp: { url: 'rtmp://b.example/live' } });
    expect(moved.data?.updateChannel.output).toEqual({
      __typename: 'RtmpOutput',
      url: 'rtmp://b.example/live',
      streamKeySet: false,
    });
    expect(await storedSecret(id)).toBeNull();
    await update({ rtmp: { url: 'rtmp://b.example/live', streamKey: STREAM_KEY } });
    expect(await storedSecret(id)).toEqual({ streamKey: STREAM_KEY });

    const replaced = await update({ rtmp: { url: 'rtmp://b.example/live', streamKey: 'other-key' } });
    expect(replaced.data?.updateChannel.output.streamKeySet).toBe(true);
    expect(await storedSecret(id)).toEqual({ streamKey: 'other-key' });

    const renamed = await server.gql(cast.editor.token, UPDATE, { id, input: { name: 'renamed' } });
    expect(renamed.data?.updateChannel.output.streamKeySet).toBe(true);
    expect(await storedSecret(id)).toEqual({ streamKey: 'other-key' });

    const removed = await update({ rtmp: { url: 'rtmp://b.example/live', streamKey: null } });
    expect(removed.data?.updateChannel.output.streamKeySet).toBe(false);
    expect(await storedSecret(id)).toBeNull();

    await update({ rtmp: { url: 'rtmp://b.example/live', streamKey: STREAM_KEY } });
    const toSrt = await update({ srt: { url: 'srt://h.example:9000' } });
    expect(toSrt.data?.updateChannel.output).toEqual({
      __typename: 'SrtOutput',
      url: 'srt://h.example:9000',
      latencyMs: null,
      passphraseSet: false,
    });
    expect(await storedSecret(id)).toBeNull();

    await update({ srt: { url: 'srt://h.example:9000', passphrase: PASSPHRASE } });
    const toNdi = await update(ndi());
    expect(toNdi.data?.updateChannel.output.__typename).toBe('NdiOutput');
    expect(await storedSecret(id)).toBeNull();
  });

  it('a ciphertext moved to another channel does not decrypt', async () => {
    const a = await create('editor', { output: { rtmp: { url: 'rtmp://a.example/live', streamKey: STREAM_KEY } } });
    const b = await create('editor', { output: { rtmp: { url: 'rtmp://a.example/live', streamKey: 'bbbbbbbb' } } });
    const db = server.services.db;
    const row = await db.channelSecret.findUniqueOrThrow({ where: { channelId: a.data?.createChannel.id } });
    await db.channelSecret.update({
      where: { channelId: b.data?.createChannel.id },
      data: { ciphertext: row.ciphertext },
    });
    await expect(storedSecret(b.data?.createChannel.id)).rejects.toThrow();
  });
});
