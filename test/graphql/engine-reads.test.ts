import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealSidecarSecret } from '../../src/domain/channels/channel-lifecycle.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// Channel.engine in a query asked the sidecar once per field: one viewer could
// make thousands of sidecar calls a second. Now a channel's sidecar is asked at
// most once per ENGINE_CACHE_MS on a replica, however many fields and viewers ask.

const { server, cast } = useTestServer({ ENGINE_CACHE_MS: '60000' });
let sidecar: http.Server;
let statusRequests = 0;
let transportRequests = 0;
let state = 'PLAYING';
let channelId: string;
const secret = randomBytes(24).toString('base64url');

beforeAll(async () => {
  sidecar = http.createServer((req, res) => {
    req.resume();
    if (req.headers.authorization !== `Bearer ${secret}`) return void res.writeHead(401).end();
    if (req.url === '/status') statusRequests++;
    else transportRequests++;
    if (req.url === '/transport/pause') state = 'PAUSED';
    const status = {
      channelId,
      engine: 'stand-in',
      state,
      playlistId: null,
      loop: false,
      current: null,
      next: null,
      epoch: 'e',
      lastSeq: 0,
      errors: [],
    };
    // Answered a little later, as a busy sidecar does: reads meanwhile share the request.
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status)), 50);
  });
  await new Promise<void>((resolve) => sidecar.listen(0, '127.0.0.1', resolve));
  const channel = await insertChannel(server.services, cast.home.id);
  channelId = channel.id;
  await server.services.db.channel.update({
    where: { id: channelId },
    data: {
      status: 'RUNNING',
      sidecarUrl: `http://127.0.0.1:${(sidecar.address() as AddressInfo).port}`,
      sidecarSecret: sealSidecarSecret(server.services.config.secretKey, channelId, secret),
    },
  });
});
afterAll(async () => {
  await new Promise((resolve) => sidecar?.close(resolve));
});

describe('Channel.engine in queries', () => {
  it('asks the sidecar once for 20 aliased fields from 10 viewers at once', async () => {
    statusRequests = 0;
    const aliased = Array.from({ length: 20 }, (_, i) => `e${i}: engine { state reachable }`).join(' ');
    const query = `query($id: ID!) { channel(id: $id) { ${aliased} } }`;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => server.gql(cast.viewer.token, query, { id: channelId })),
    );
    for (const res of results) {
      expect(res.errors).toBeUndefined();
      expect(res.data.channel.e0).toEqual({ state: 'PLAYING', reachable: true });
      expect(res.data.channel.e19).toEqual({ state: 'PLAYING', reachable: true });
    }
    expect(statusRequests).toBe(1);
    // And again, while the read is recent.
    await server.gql(cast.viewer.token, query, { id: channelId });
    expect(statusRequests).toBe(1);
  });

  it('after a mutation on this replica, the next read asks the sidecar again: a client reads its own writes', async () => {
    const paused = await server.gql(cast.operator.token, `mutation($id: ID!) { pause(channelId: $id) { state } }`, {
      id: channelId,
    });
    expect(paused.data.pause.state).toBe('PAUSED');
    expect(transportRequests).toBe(1);
    const before = statusRequests;
    const read = await server.gql(cast.viewer.token, `query($id: ID!) { channel(id: $id) { engine { state } } }`, {
      id: channelId,
    });
    expect(read.data.channel.engine.state).toBe('PAUSED');
    expect(statusRequests).toBe(before + 1);
  });
});

describe('Channel.node', () => {
  it('shows the node to admins and editors, null to operators and viewers', async () => {
    const node = await server.services.db.clusterNode.create({
      data: { hostname: 'playout-secret-1', dockerHost: 'tcp://10.0.0.5:2376', labels: ['srt'] },
    });
    const placed = await insertChannel(server.services, cast.home.id, { nodeId: node.id });
    const query = `query($id: ID!) { channel(id: $id) { id node { hostname dockerHost labels } } }`;
    const seen: Record<string, unknown> = {};
    for (const actor of ['admin', 'editor', 'operator', 'viewer'] as const) {
      const res = await server.gql(cast[actor].token, query, { id: placed.id });
      expect(res.errors, actor).toBeUndefined();
      seen[actor] = res.data.channel.node;
    }
    const shown = { hostname: 'playout-secret-1', dockerHost: 'tcp://10.0.0.5:2376', labels: ['srt'] };
    expect(seen).toEqual({ admin: shown, editor: shown, operator: null, viewer: null });
    // Nor through a list.
    const list = await server.gql(cast.viewer.token, `{ channels { id node { hostname } } }`);
    expect(list.data.channels.find((c: { id: string }) => c.id === placed.id).node).toBeNull();
  });
});
