import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Status } from '../../src/protocol/sidecar-api.ts';
import { SidecarClient } from '../../src/services/sidecar-client.ts';

// The control plane's client of a sidecar, against a plain HTTP peer: what it
// sends, how it reads answers, refusals, silence and a peer that is gone.

const SECRET = 'sidecar-secret';
const status: Status = {
  channelId: 'c1',
  engine: 'stand-in',
  state: 'PLAYING',
  playlistId: null,
  loop: false,
  current: null,
  next: null,
  epoch: 'e1',
  lastSeq: 0,
  errors: [],
};

let server: http.Server;
let url: string;
const seen: { method?: string; path?: string; authorization?: string; body: string }[] = [];
const sockets = new Set<unknown>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, authorization: req.headers.authorization, body });
      if (req.url === '/transport/skip')
        return void res
          .writeHead(409, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 'CONFLICT', message: 'nothing on air' } }));
      if (req.url === '/transport/pause') return void res.writeHead(500).end('<html>broken</html>');
      if (req.url?.startsWith('/events')) return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status));
    });
  });
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('sidecar client', () => {
  const client = new SidecarClient(300);

  it('sends the secret and the body, reads the status, and reuses its connection', async () => {
    seen.length = 0;
    const before = sockets.size;
    const playlist = { playlistId: 'p1', loop: false, items: [] };
    expect(await client.load({ url, secret: SECRET }, playlist)).toEqual(status);
    expect(await client.status({ url, secret: SECRET })).toEqual(status);
    expect(seen).toEqual([
      { method: 'POST', path: '/playlist', authorization: `Bearer ${SECRET}`, body: JSON.stringify(playlist) },
      { method: 'GET', path: '/status', authorization: `Bearer ${SECRET}`, body: '' },
    ]);
    expect(sockets.size - before).toBe(1);
  });

  it("turns the sidecar's refusals into the contract's codes", async () => {
    await expect(client.transport({ url, secret: SECRET }, 'skip')).rejects.toMatchObject({
      message: 'nothing on air',
      extensions: { code: 'CONFLICT' },
    });
    await expect(client.transport({ url, secret: SECRET }, 'pause')).rejects.toMatchObject({
      message: "the channel's playout engine refused: HTTP 500",
      extensions: { code: 'SIDECAR_UNAVAILABLE' },
    });
  });

  it('gives up on a sidecar that does not answer in time, and on one that is gone', async () => {
    const started = Date.now();
    await expect(client.events({ url, secret: SECRET }, 0, 200)).rejects.toMatchObject({
      message: "the channel's playout engine did not answer within 500 ms",
      extensions: { code: 'SIDECAR_UNAVAILABLE' },
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(client.status({ url: 'http://127.0.0.1:1', secret: SECRET })).rejects.toMatchObject({
      message: "the channel's playout engine cannot be reached",
      extensions: { code: 'SIDECAR_UNAVAILABLE' },
    });
  });

  it('abandons a long poll when its reader stops', async () => {
    const stop = new AbortController();
    const poll = client.events({ url, secret: SECRET }, 0, 5000, stop.signal);
    setTimeout(() => stop.abort(), 50);
    await expect(poll).rejects.toMatchObject({ extensions: { code: 'SIDECAR_UNAVAILABLE' } });
  });
});
