import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChannelSidecar, type LifecycleDeps } from '../../src/domain/channels/channel-lifecycle.ts';
import type { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { STANDIN_HEALTH, standinLifecycle } from '../helpers/standin-sidecar.ts';

// An output's destination and its write-only secret, as an editor could abuse them,
// with onair's default policy (OUTPUT_ALLOW_PRIVATE=false).

// A stand-in sidecar that proves itself as a sidecar does and answers with the output it was started with.
const ECHO = `
  const http = require('node:http');
  ${STANDIN_HEALTH}
  listen(http.createServer((req, res) => {
    if (health(req, res)) return;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ output: JSON.parse(process.env.OUTPUT_JSON) }));
  }));
`;

const CREATE = `mutation($input: CreateChannelInput!) { createChannel(input: $input) { id output { __typename ... on SrtOutput { url passphraseSet } ... on RtmpOutput { url streamKeySet } } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateChannelInput!) { updateChannel(id: $id, input: $input) { id output { __typename ... on SrtOutput { url latencyMs passphraseSet } ... on RtmpOutput { url streamKeySet } } } }`;
const PASSPHRASE = 'correct horse battery staple';

const { server, cast } = useTestServer({ OUTPUT_ALLOW_PRIVATE: 'false' });
let local: LocalOrchestrator;
let deps: LifecycleDeps;

beforeAll(async () => {
  ({ deps, orchestrator: local } = standinLifecycle(server.services, ECHO));
});
afterAll(async () => {
  await local?.close();
});

async function startedOutput(channelId: string) {
  const channel = await startChannelSidecar(deps, channelId);
  const answer = (await (await fetch(`${channel.sidecarUrl}/`)).json()) as { output: Record<string, unknown> };
  return answer.output;
}

const create = (output: Record<string, unknown>) =>
  server.gql(cast.editor.token, CREATE, {
    input: { name: `out-${Math.random().toString(36).slice(2, 8)}`, projectId: cast.home.id, output },
  });

describe('a write-only secret follows its destination', () => {
  it('an editor who changes only the URL starts the channel without the stored passphrase', async () => {
    const created = await create({ srt: { url: 'srt://203.0.114.7:9000', passphrase: PASSPHRASE } });
    const id = created.data.createChannel.id as string;
    const moved = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { output: { srt: { url: 'srt://198.51.99.9:9000' } } },
    });
    expect(moved.data.updateChannel.output).toEqual({
      __typename: 'SrtOutput',
      url: 'srt://198.51.99.9:9000',
      latencyMs: null,
      passphraseSet: false,
    });

    const output = await startedOutput(id);
    expect(output).toEqual({ type: 'SRT', url: 'srt://198.51.99.9:9000', latencyMs: null, passphrase: null });
    expect(JSON.stringify(output)).not.toContain(PASSPHRASE);
  });

  it('changing only the latency keeps it', async () => {
    const created = await create({ srt: { url: 'srt://203.0.114.7:9000', passphrase: PASSPHRASE } });
    const id = created.data.createChannel.id as string;
    const tuned = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { output: { srt: { url: 'srt://203.0.114.7:9000', latencyMs: 400 } } },
    });
    expect(tuned.data.updateChannel.output.passphraseSet).toBe(true);
    expect(await startedOutput(id)).toEqual({
      type: 'SRT',
      url: 'srt://203.0.114.7:9000',
      latencyMs: 400,
      passphrase: PASSPHRASE,
    });
  });
});

describe('destinations', () => {
  it.each([
    ['srt://127.0.0.1:16379', 'input.output.srt.url'],
    ['srt://[::1]:9000', 'input.output.srt.url'],
    ['srt://169.254.169.254:80', 'input.output.srt.url'],
    ['srt://2130706433:9000', 'input.output.srt.url'],
  ])('an editor cannot point an output at %s', async (url, field) => {
    const res = await create({ srt: { url } });
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.errors?.[0].message).toMatch(/^input\.output\.srt\.url: host /);
  });

  it('nor move one there, nor an RTMP output to localhost; the channel is unchanged', async () => {
    const created = await create({ rtmp: { url: 'rtmp://203.0.114.7/live', streamKey: 'k' } });
    const id = created.data.createChannel.id as string;
    const res = await server.gql(cast.editor.token, UPDATE, {
      id,
      input: { output: { rtmp: { url: 'rtmp://localhost/live' } } },
    });
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.output.rtmp.url' });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id } });
    expect(row.output).toEqual({ url: 'rtmp://203.0.114.7/live', streamKeySet: true });
  });

  it('a loopback output stored before the policy does not start: ERROR with the reason, no sidecar', async () => {
    const channel = await insertChannel(server.services, cast.home.id, {
      outputType: 'SRT',
      output: { url: 'srt://127.0.0.1:16379', latencyMs: null, passphraseSet: false },
    });
    await expect(startChannelSidecar(deps, channel.id)).rejects.toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: expect.stringMatching(/output destination refused: host 127\.0\.0\.1 is a loopback/),
    });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(row).toMatchObject({ status: 'ERROR', sidecarRef: null });
    expect(row.errorMessage).toMatch(/output destination refused/);
    expect((await local.list(null)).some((s) => s.channelId === channel.id)).toBe(false);
  });
});
