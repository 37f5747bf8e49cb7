import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPreviewToken } from '../../src/domain/channels/preview.ts';
import { handlePreview, type PreviewDeps } from '../../src/server/routes/preview.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { ACTORS, createActor, tokenOf, useTestServer } from '../helpers/server.ts';

const previewKey = Buffer.alloc(32, 'preview-test-key');
const TS_PLAYLIST =
  '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:1.000000,\nseg-7.ts\n#EXTINF:1.000000,\nseg-8.ts\n';
const FMP4_PLAYLIST =
  '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1.000000,\nseg0.m4s\n#EXTINF:1.000000,\nseg1.m4s\n';
const SECRET = 'SECRET-OUTSIDE-THE-LIVE-DIR';

const { server, cast } = useTestServer();
let media: string;
let base: string;
let cdnBase: string;
const servers: Server[] = [];
const ch: Record<'ts' | 'fmp4' | 'adminOnly' | 'other' | 'deleted' | 'empty', string> = {} as never;

/** The API as app.ts will wire it: the preview routes first, then everything else. */
async function listen(deps: PreviewDeps): Promise<string> {
  const http = createServer((req, res) => {
    handlePreview(req, res, deps)
      .then((handled) => handled || server.app.server.emit('request', req, res))
      .catch(() => res.writeHead(500).end());
  });
  servers.push(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

/** A raw HTTP request: unlike fetch, the path is sent exactly as written (no `..` or %2e folding). */
/** An error body in the API's shape. */
const failure = (message: string, code: string) => ({ errors: [{ message, extensions: { code } }] });

function raw(path: string, headers: Record<string, string> = {}, method = 'GET', origin = base) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
    (resolve, reject) => {
      const req = request(`${origin}/`, { method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

const bearer = (token: string | null): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
const json = (body: Buffer) => JSON.parse(body.toString());
const live = (id: string, name = '') => join(media, 'live', id, name);

beforeAll(async () => {
  const db = server.services;
  ch.ts = (await insertChannel(db, cast.home.id, { status: 'RUNNING' })).id;
  ch.fmp4 = (await insertChannel(db, cast.home.id, { status: 'RUNNING' })).id;
  ch.adminOnly = (await insertChannel(db, null, { status: 'RUNNING' })).id;
  ch.other = (await insertChannel(db, cast.other.id, { status: 'RUNNING' })).id;
  ch.deleted = (await insertChannel(db, cast.home.id, { deletedAt: new Date() })).id;
  ch.empty = (await insertChannel(db, cast.home.id)).id;

  media = await mkdtemp(join(tmpdir(), 'onair-preview-'));
  await writeFile(join(media, 'secret.ts'), SECRET);
  await mkdir(join(media, 'live'));
  await writeFile(join(media, 'live', 'secret.ts'), SECRET);
  for (const id of [ch.ts, ch.adminOnly, ch.other, ch.deleted]) {
    await mkdir(live(id), { recursive: true });
    await writeFile(live(id, 'index.m3u8'), TS_PLAYLIST);
    await writeFile(live(id, 'seg-7.ts'), `ts-7-of-${id}`);
  }
  await mkdir(live(ch.fmp4), { recursive: true });
  await writeFile(live(ch.fmp4, 'index.m3u8'), FMP4_PLAYLIST);
  await writeFile(live(ch.fmp4, 'init.mp4'), 'init-bytes');
  await writeFile(live(ch.fmp4, 'seg0.m4s'), 'm4s-bytes');
  await writeFile(live(ch.fmp4, 'audio.aac'), 'aac-bytes');
  // Escape hatches that must stay shut.
  await symlink(join(media, 'secret.ts'), live(ch.ts, 'link.ts'));
  await mkdir(live(ch.ts, 'folder.ts'));
  await mkdir(live(ch.empty), { recursive: true });

  base = await listen({ services: server.services, previewKey, mediaVolumeDir: media });
  cdnBase = await listen({
    services: server.services,
    previewKey,
    mediaVolumeDir: media,
    segmentBase: 'https://cdn.example/live/',
  });
});

afterAll(async () => {
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  if (media) await rm(media, { recursive: true, force: true });
});

describe('GET /channels/:id/preview.m3u8', () => {
  it('serves the MPEG-TS playlist fresh from disk, uncached, with absolute segment URLs', async () => {
    const res = await raw(`/channels/${ch.ts}/preview.m3u8`, bearer(cast.viewer.token));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.toString()).toBe(TS_PLAYLIST.replace(/^seg-(\d)\.ts$/gm, `/channels/${ch.ts}/preview/seg-$1.ts`));

    // The sidecar moves the live edge on: the next request sees it at once.
    await writeFile(
      live(ch.ts, 'index.m3u8'),
      TS_PLAYLIST.replace('SEQUENCE:7', 'SEQUENCE:8').replace('seg-7.ts\n', ''),
    );
    const next = (await raw(`/channels/${ch.ts}/preview.m3u8`, bearer(cast.viewer.token))).body.toString();
    expect(next).toContain('#EXT-X-MEDIA-SEQUENCE:8');
    expect(next).not.toContain('seg-7.ts');
    await writeFile(live(ch.ts, 'index.m3u8'), TS_PLAYLIST);
  });

  it('rewrites the fMP4 init section and segments, carrying the query token to them', async () => {
    const token = signPreviewToken(previewKey, ch.fmp4, new Date(Date.now() + 60_000), cast.viewer.tokenId);
    const res = await raw(`/channels/${ch.fmp4}/preview.m3u8?token=${token}`);
    expect(res.status).toBe(200);
    const body = res.body.toString();
    expect(body).toContain(`#EXT-X-MAP:URI="/channels/${ch.fmp4}/preview/init.mp4?token=${token}"`);
    expect(body).toContain(`\n/channels/${ch.fmp4}/preview/seg0.m4s?token=${token}\n`);
    // A player without headers loads what the playlist names.
    const init = await raw(`/channels/${ch.fmp4}/preview/init.mp4?token=${token}`);
    expect([init.status, init.headers['content-type'], init.body.toString()]).toEqual([200, 'video/mp4', 'init-bytes']);
    const seg = await raw(`/channels/${ch.fmp4}/preview/seg0.m4s?token=${token}`);
    expect([seg.status, seg.headers['content-type'], seg.body.toString()]).toEqual([
      200,
      'video/iso.segment',
      'm4s-bytes',
    ]);
  });

  it('with a Bearer header, segment URLs carry no token', async () => {
    const body = (await raw(`/channels/${ch.fmp4}/preview.m3u8`, bearer(cast.editor.token))).body.toString();
    expect(body).toContain(`#EXT-X-MAP:URI="/channels/${ch.fmp4}/preview/init.mp4"`);
    expect(body).not.toContain('token');
  });

  it('points segments at a configured segment base', async () => {
    const token = signPreviewToken(previewKey, ch.fmp4, new Date(Date.now() + 60_000), cast.viewer.tokenId);
    const fmp4 = (await raw(`/channels/${ch.fmp4}/preview.m3u8?token=${token}`, {}, 'GET', cdnBase)).body.toString();
    expect(fmp4).toContain(`#EXT-X-MAP:URI="https://cdn.example/live/${ch.fmp4}/init.mp4"`);
    expect(fmp4).toContain(`\nhttps://cdn.example/live/${ch.fmp4}/seg1.m4s\n`);
    const ts = (await raw(`/channels/${ch.ts}/preview.m3u8`, bearer(cast.admin.token), 'GET', cdnBase)).body.toString();
    expect(ts).toContain(`\nhttps://cdn.example/live/${ch.ts}/seg-7.ts\n`);
  });

  it('says so when a visible channel has no preview yet', async () => {
    const res = await raw(`/channels/${ch.empty}/preview.m3u8`, bearer(cast.viewer.token));
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
    expect(json(res.body)).toEqual(failure('no live preview for this channel yet', 'NOT_FOUND'));
  });
});

describe('GET /channels/:id/preview/<segment>', () => {
  it('serves segments as immutable, with their content type', async () => {
    const ts = await raw(`/channels/${ch.ts}/preview/seg-7.ts`, bearer(cast.operator.token));
    expect(ts.status).toBe(200);
    expect(ts.headers['content-type']).toBe('video/mp2t');
    expect(ts.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(ts.body.toString()).toBe(`ts-7-of-${ch.ts}`);
    const aac = await raw(`/channels/${ch.fmp4}/preview/audio.aac`, bearer(cast.operator.token));
    expect([aac.status, aac.headers['content-type']]).toEqual([200, 'audio/aac']);
    const head = await raw(`/channels/${ch.ts}/preview/seg-7.ts`, bearer(cast.operator.token), 'HEAD');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([
      200,
      String(`ts-7-of-${ch.ts}`.length),
      0,
    ]);
  });

  it('answers 404 for a segment that is gone', async () => {
    const res = await raw(`/channels/${ch.ts}/preview/seg-1.ts`, bearer(cast.operator.token));
    expect(res.status).toBe(404);
    expect(json(res.body)).toEqual(failure('segment not found', 'NOT_FOUND'));
  });

  it('never reads outside the channel live folder', async () => {
    const id = ch.ts;
    const attempts = [
      `/channels/${id}/preview/../../secret.ts`,
      `/channels/${id}/preview/../../../secret.ts`,
      `/channels/${id}/preview/../../../../../../etc/passwd`,
      `/channels/${id}/preview/..%2f..%2fsecret.ts`,
      `/channels/${id}/preview/%2e%2e/%2e%2e/secret.ts`,
      `/channels/${id}/preview/%2e%2e%2f%2e%2e%2fsecret.ts`,
      `/channels/${id}/preview/..%5c..%5csecret.ts`,
      `/channels/${id}/preview/%2fetc%2fpasswd`,
      `/channels/${id}/preview//etc/passwd`,
      `/channels/${id}/preview/${media}/secret.ts`,
      `/channels/${id}/preview/..`,
      `/channels/${id}/preview/.`,
      `/channels/${id}/preview/index.m3u8`,
      `/channels/${id}/preview/link.ts`,
      `/channels/${id}/preview/folder.ts`,
      `/channels/${id}/preview/seg-7.ts%00.ts`,
      `/channels/..%2f${id}/preview/seg-7.ts`,
      `/channels/${id}%2f..%2f..%2f/preview/secret.ts`,
    ];
    for (const path of attempts) {
      const res = await raw(path, bearer(cast.admin.token));
      expect(res.status, path).toBe(404);
      expect(res.body.toString(), path).not.toContain(SECRET);
    }
  });

  it('refuses a playlist that is a symlink', async () => {
    const dir = live(ch.adminOnly);
    await rm(join(dir, 'index.m3u8'));
    await symlink(join(media, 'secret.ts'), join(dir, 'index.m3u8'));
    const res = await raw(`/channels/${ch.adminOnly}/preview.m3u8`, bearer(cast.admin.token));
    expect(res.status).toBe(404);
    expect(res.body.toString()).not.toContain(SECRET);
    await rm(join(dir, 'index.m3u8'));
    await writeFile(join(dir, 'index.m3u8'), TS_PLAYLIST);
  });
});

describe('access', () => {
  const expected = { admin: 200, editor: 200, operator: 200, viewer: 200, outsider: 404, revoked: 401, anonymous: 401 };
  for (const actor of ACTORS) {
    it(`${actor}: playlist and segment of a home channel → ${expected[actor]}`, async () => {
      for (const path of [`/channels/${ch.ts}/preview.m3u8`, `/channels/${ch.ts}/preview/seg-7.ts`]) {
        const res = await raw(path, bearer(tokenOf(cast, actor)));
        expect(res.status, path).toBe(expected[actor]);
        if (res.status !== 200) expect(res.headers['content-type']).toBe('application/json');
        if (res.status === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
        if (res.status !== 200)
          expect(json(res.body).errors[0].extensions.code).toBe(res.status === 401 ? 'UNAUTHENTICATED' : 'NOT_FOUND');
      }
    });
  }

  it('an admin-only channel is visible to admins only; nobody sees a deleted one', async () => {
    expect((await raw(`/channels/${ch.adminOnly}/preview.m3u8`, bearer(cast.admin.token))).status).toBe(200);
    const hidden = await raw(`/channels/${ch.adminOnly}/preview.m3u8`, bearer(cast.editor.token));
    expect([hidden.status, json(hidden.body)]).toEqual([404, failure('channel not found', 'NOT_FOUND')]);
    const deleted = await raw(`/channels/${ch.deleted}/preview.m3u8`, bearer(cast.admin.token));
    expect([deleted.status, json(deleted.body)]).toEqual([404, failure('channel not found', 'NOT_FOUND')]);
  });

  it('a malformed or unknown id reads as a channel the caller may not see', async () => {
    for (const id of ['nope', '00000000-0000-4000-8000-000000000000', ch.other]) {
      const res = await raw(`/channels/${id}/preview.m3u8`, bearer(cast.editor.token));
      expect([res.status, json(res.body)], id).toEqual([404, failure('channel not found', 'NOT_FOUND')]);
    }
  });

  it('a signed token opens its channel until it expires', async () => {
    const url = (id: string, token: string) => `/channels/${id}/preview.m3u8?token=${encodeURIComponent(token)}`;
    const good = signPreviewToken(previewKey, ch.ts, new Date(Date.now() + 60_000), cast.viewer.tokenId);
    expect((await raw(url(ch.ts, good))).status).toBe(200);
    expect((await raw(url(ch.ts.toUpperCase(), good))).status).toBe(200);

    const expired = await raw(
      url(ch.ts, signPreviewToken(previewKey, ch.ts, new Date(Date.now() - 1000), cast.viewer.tokenId)),
    );
    expect([expired.status, json(expired.body)]).toEqual([401, failure('preview token expired', 'UNAUTHENTICATED')]);
    const [exp, holder, mac] = good.split('.');
    for (const bad of [
      `${Number(exp) + 86_400}.${holder}.${mac}`,
      `${exp}.${holder}.${mac.slice(0, -2)}AA`,
      `${exp}.${cast.editor.tokenId}.${mac}`,
      signPreviewToken(Buffer.alloc(32, 'another-key'), ch.ts, new Date(Date.now() + 60_000), cast.viewer.tokenId),
      signPreviewToken(previewKey, ch.other, new Date(Date.now() + 60_000), cast.viewer.tokenId),
      'garbage',
      '',
    ]) {
      const res = await raw(url(ch.ts, bad));
      expect([res.status, json(res.body)], bad).toEqual([401, failure('invalid preview token', 'UNAUTHENTICATED')]);
    }
    // Valid for a channel since deleted: nothing to see.
    const gone = signPreviewToken(previewKey, ch.deleted, new Date(Date.now() + 60_000), cast.viewer.tokenId);
    expect((await raw(url(ch.deleted, gone))).status).toBe(404);
    // One channel's token does not open another's segments.
    expect((await raw(`/channels/${ch.other}/preview/seg-7.ts?token=${good}`)).status).toBe(401);
  });

  it('without credentials: 401 naming both ways in', async () => {
    const anonymous = await raw(`/channels/${ch.ts}/preview.m3u8`);
    expect([anonymous.status, json(anonymous.body)]).toEqual([
      401,
      failure('missing credentials: send Authorization: Bearer <token> or ?token=', 'UNAUTHENTICATED'),
    ]);
  });

  it('a Bearer header wins over a query token: a revoked one is refused', async () => {
    const good = signPreviewToken(previewKey, ch.ts, new Date(Date.now() + 60_000), cast.viewer.tokenId);
    expect((await raw(`/channels/${ch.ts}/preview.m3u8?token=${good}`, bearer(cast.revoked.token))).status).toBe(401);
    expect((await raw(`/channels/${ch.ts}/preview.m3u8?token=${good}`, { authorization: 'Basic x' })).status).toBe(401);
  });
});

describe('revocation', () => {
  const signed = (tokenId: string) => signPreviewToken(previewKey, ch.ts, new Date(Date.now() + 3_600_000), tokenId);

  it('a signed URL stops at once when its API token is revoked, segments included', async () => {
    const holder = await createActor(server.services, { name: 'revokes', roles: { [cast.home.id]: 'VIEWER' } });
    const token = signed(holder.tokenId);
    expect((await raw(`/channels/${ch.ts}/preview.m3u8?token=${token}`)).status).toBe(200);
    expect((await raw(`/channels/${ch.ts}/preview/seg-7.ts?token=${token}`)).status).toBe(200);
    const revoked = await server.gql(holder.token, `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`, {
      id: holder.tokenId,
    });
    expect(revoked.errors).toBeUndefined();
    const playlist = await raw(`/channels/${ch.ts}/preview.m3u8?token=${token}`);
    expect([playlist.status, json(playlist.body)]).toEqual([
      401,
      failure('preview token revoked: the API token it was made for no longer authenticates', 'UNAUTHENTICATED'),
    ]);
    expect((await raw(`/channels/${ch.ts}/preview/seg-7.ts?token=${token}`)).status).toBe(401);
  });

  it('a signed URL stops at once when its holder loses access to the channel', async () => {
    const holder = await createActor(server.services, { name: 'removed', roles: { [cast.home.id]: 'VIEWER' } });
    const token = signed(holder.tokenId);
    expect((await raw(`/channels/${ch.ts}/preview.m3u8?token=${token}`)).status).toBe(200);
    const removed = await server.gql(
      cast.admin.token,
      `mutation($p: ID!, $u: ID!) { setProjectRole(projectId: $p, userId: $u, role: null) { role } }`,
      {
        p: cast.home.id,
        u: holder.userId,
      },
    );
    expect(removed.errors).toBeUndefined();
    const playlist = await raw(`/channels/${ch.ts}/preview.m3u8?token=${token}`);
    expect([playlist.status, json(playlist.body)]).toEqual([404, failure('channel not found', 'NOT_FOUND')]);
  });

  it("Channel.previewUrl is signed for the caller's own API token", async () => {
    const res = await server.gql(cast.viewer.token, `query($id: ID!) { channel(id: $id) { previewUrl } }`, {
      id: ch.ts,
    });
    const token = new URL(res.data.channel.previewUrl, 'http://x').searchParams.get('token')!;
    expect(token.split('.')[1]).toBe(cast.viewer.tokenId);
  });
});

describe('routing', () => {
  it('other methods get 405; other paths fall through to the API', async () => {
    const post = await raw(`/channels/${ch.ts}/preview.m3u8`, bearer(cast.admin.token), 'POST');
    expect([post.status, post.headers.allow, json(post.body)]).toEqual([
      405,
      'GET, HEAD',
      failure('method not allowed', 'BAD_USER_INPUT'),
    ]);
    expect((await raw('/healthz')).status).toBe(200);
    expect((await raw(`/channels/${ch.ts}/preview`)).status).toBe(404);
  });
});
