import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertChannel, sidecarPortBase } from '../helpers/fixtures.ts';
import { ACTORS, outcome, tokenOf, useTestServer } from '../helpers/server.ts';

// startChannel and stopChannel over HTTP, with the real sidecar program run by
// the local orchestrator (the one-machine default).
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-start-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));
const { server, cast } = useTestServer(() => ({
  MEDIA_VOLUME_DIR: tmp,
  // A port range of this file's own.
  SIDECAR_PORT_BASE: String(sidecarPortBase(40)),
  SIDECAR_PORT_COUNT: '40',
}));

const START = `mutation($id: ID!) { startChannel(id: $id) { id status errorMessage } }`;
const STOP = `mutation($id: ID!) { stopChannel(id: $id) { id status errorMessage } }`;

const srtChannel = () =>
  insertChannel(server.services, cast.home.id, {
    outputType: 'SRT',
    output: { url: 'srt://127.0.0.1:9999', latencyMs: 120, passphraseSet: false },
    videoFormat: '720p5000',
  });

describe('startChannel and stopChannel', () => {
  it('operators start a channel: its sidecar answers; the role matrix; then operators stop it', async () => {
    const channel = await srtChannel();
    const started = await server.gql(cast.operator.token, START, { id: channel.id });
    expect(started.errors).toBeUndefined();
    expect(started.data?.startChannel).toMatchObject({ status: 'RUNNING', errorMessage: null });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect((await fetch(`${row.sidecarUrl}/healthz`)).status).toBe(200);
    // Without the per-spawn secret the sidecar's API refuses.
    expect((await fetch(`${row.sidecarUrl}/status`)).status).toBe(401);

    const again: Record<string, string> = {};
    for (const actor of ACTORS)
      again[actor] = outcome(await server.gql(tokenOf(cast, actor), START, { id: channel.id }));
    expect(again).toEqual({
      admin: 'CONFLICT',
      editor: 'CONFLICT',
      operator: 'CONFLICT',
      viewer: 'FORBIDDEN',
      outsider: 'NOT_FOUND',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    });
    for (const actor of ['viewer', 'outsider', 'revoked', 'anonymous'] as const) {
      expect([actor, outcome(await server.gql(tokenOf(cast, actor), STOP, { id: channel.id }))]).not.toEqual([
        actor,
        'OK',
      ]);
    }
    // A running channel's settings cannot change.
    const edit = await server.gql(
      cast.editor.token,
      `mutation { updateChannel(id: "${channel.id}", input: { name: "x" }) { id } }`,
    );
    expect(outcome(edit)).toBe('CONFLICT');

    const stopped = await server.gql(cast.operator.token, STOP, { id: channel.id });
    expect(stopped.data?.stopChannel).toMatchObject({ status: 'STOPPED', errorMessage: null });
    await expect(fetch(`${row.sidecarUrl}/healthz`)).rejects.toThrow();
  });

  it('twenty concurrent startChannel calls: one sidecar, nineteen CONFLICT', async () => {
    const channel = await srtChannel();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => server.gql(cast.operator.token, START, { id: channel.id })),
    );
    const outcomes = results.map(outcome);
    expect(outcomes.filter((o) => o === 'OK')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'CONFLICT')).toHaveLength(19);
    expect(
      (await server.services.orchestrator.list(null)).filter((s) => s.channelId === channel.id && s.running),
    ).toHaveLength(1);
    expect((await server.gql(cast.operator.token, STOP, { id: channel.id })).data?.stopChannel.status).toBe('STOPPED');
  });

  it('a channel its engine cannot play ends in ERROR with the reason', async () => {
    // The ffmpeg engine has no NDI output: the sidecar refuses to start.
    const channel = await insertChannel(server.services, cast.home.id);
    const res = await server.gql(cast.operator.token, START, { id: channel.id });
    expect(res.errors?.[0]).toMatchObject({
      extensions: { code: 'SIDECAR_UNAVAILABLE' },
      message: expect.stringMatching(/NDI/),
    });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(row.status).toBe('ERROR');
    expect(row.errorMessage).toMatch(/could not start/);
  });
});
