import { createServer, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  freeSidecarPort,
  hostWidePorts,
  lockNode,
  startChannelSidecar,
  stopChannelSidecar,
  sidecarSecretOf,
  type LifecycleDeps,
} from '../../src/domain/channels/channel-lifecycle.ts';
import { DockerOrchestrator } from '../../src/services/orchestrator/docker.ts';
import { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import { insertChannel, sidecarPortBase } from '../helpers/fixtures.ts';
import { STANDIN_HEALTH } from '../helpers/standin-sidecar.ts';
import { useTestServer } from '../helpers/server.ts';

// A stand-in sidecar: proves itself on /healthz on $HOST:$PORT and echoes what it was given.
const SERVE = `
  const http = require('node:http');
  ${STANDIN_HEALTH}
  listen(http.createServer((req, res) => {
    if (health(req, res)) return;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ channel: process.env.CHANNEL_ID, secret: process.env.SIDECAR_SECRET, output: JSON.parse(process.env.OUTPUT_JSON), logLevel: process.env.LOG_LEVEL }));
  }));
`;
const CRASH = `console.error('cannot open the output'); process.exit(3);`;

const { server } = useTestServer();
const orchestrators: LocalOrchestrator[] = [];

function deps(script = SERVE, orchestrator?: LifecycleDeps['orchestrator']): LifecycleDeps {
  const local = new LocalOrchestrator({
    command: [process.execPath, '-e', script],
    healthPath: '/healthz',
    output: 'ignore',
    stopTimeoutMs: 1000,
  });
  orchestrators.push(local);
  return {
    db: server.services.db,
    log: server.services.log,
    pubsub: server.services.pubsub,
    redis: server.services.redis,
    orchestrator: orchestrator ?? local,
    config: {
      secretKey: server.services.config.secretKey,
      queuePrefix: server.services.config.queuePrefix,
      mediaVolumeDir: '/tmp',
      // A range of its own per run, so parallel test files never collide.
      sidecar: { engine: 'ffmpeg', portBase: sidecarPortBase(50), portCount: 50, timeoutMs: 2000, logLevel: 'warn' },
    },
  };
}

afterAll(async () => {
  for (const o of orchestrators) await o.close();
});

const srtChannel = async () => {
  const channel = await insertChannel(server.services, null, {
    outputType: 'SRT',
    output: { url: 'srt://127.0.0.1:9000', latencyMs: 120, passphraseSet: true },
  });
  const { writeChannelSecret } = await import('../../src/domain/channels/secrets.ts');
  await server.services.db.$transaction((tx) =>
    writeChannelSecret(tx, server.services.config.secretKey, channel.id, { passphrase: 'a-long-passphrase' }),
  );
  return channel;
};

describe('starting and stopping a channel', () => {
  it('twenty concurrent starts spawn one sidecar; the others get CONFLICT', async () => {
    const d = deps();
    const channel = await srtChannel();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => startChannelSidecar(d, channel.id)));
    const started = results.filter((r) => r.status === 'fulfilled');
    expect(started).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]) {
      expect(`${r.reason.extensions?.code}: ${r.reason.message}`).toMatch(/^CONFLICT/);
    }
    const running = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(running).toMatchObject({ status: 'RUNNING', errorMessage: null });
    expect((await d.orchestrator.list(null)).filter((s) => s.running)).toHaveLength(1);

    // The sidecar got its channel, its API secret (kept sealed in the row) and the output with its passphrase.
    const answer = (await (await fetch(`${running.sidecarUrl}/`)).json()) as {
      channel: string;
      secret: string;
      output: unknown;
      logLevel: string;
    };
    expect(answer.channel).toBe(channel.id);
    expect(answer.secret).toBe(sidecarSecretOf(server.services.config.secretKey, running));
    expect(running.sidecarSecret).not.toContain(answer.secret);
    expect(answer.output).toEqual({
      type: 'SRT',
      url: 'srt://127.0.0.1:9000',
      latencyMs: 120,
      passphrase: 'a-long-passphrase',
    });
    // And the control plane's log level.
    expect(answer.logLevel).toBe('warn');

    const stopped = await stopChannelSidecar(d, channel.id);
    expect(stopped).toMatchObject({
      status: 'STOPPED',
      sidecarRef: null,
      sidecarUrl: null,
      sidecarPort: null,
      sidecarSecret: null,
    });
    expect((await d.orchestrator.list(null)).filter((s) => s.running)).toHaveLength(0);
    await expect(fetch(`${running.sidecarUrl}/`)).rejects.toThrow();
    // Stopping a stopped channel is a no-op.
    expect((await stopChannelSidecar(d, channel.id)).status).toBe('STOPPED');
  });

  it('a sidecar that cannot start leaves ERROR with the reason and nothing running', async () => {
    const d = deps(CRASH);
    const channel = await insertChannel(server.services, null);
    await expect(startChannelSidecar(d, channel.id)).rejects.toThrow();
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(row.status).toBe('ERROR');
    expect(row.errorMessage).toMatch(/could not start/);
    expect(await d.orchestrator.list(null)).toEqual([]);
    // ERROR with nothing left: stop clears it, and a start may follow.
    expect((await stopChannelSidecar(d, channel.id)).status).toBe('STOPPED');
  });

  it('a port held by another program moves the start to another free port', async () => {
    const d = deps();
    const channel = await srtChannel();
    // The port the channel would get first, taken by a program onair knows nothing of.
    const held = d.config.sidecar.portBase;
    const sockets: Socket[] = [];
    const holder = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => holder.listen(held, '127.0.0.1', resolve));
    try {
      const row = await startChannelSidecar(d, channel.id);
      expect(row.status).toBe('RUNNING');
      expect(row.sidecarPort).not.toBe(held);
      expect(row.sidecarUrl).toBe(`http://127.0.0.1:${row.sidecarPort}`);
      const answer = (await (await fetch(`${row.sidecarUrl}/`)).json()) as { channel: string };
      expect(answer.channel).toBe(channel.id);
      expect((await stopChannelSidecar(d, channel.id)).status).toBe('STOPPED');
      expect(await d.orchestrator.list(null)).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("local sidecars of two nodes share this host's ports: channels started on each, at once, get different ports", async () => {
    const d = deps();
    // Two nodes the local orchestrator runs on this one machine (two installations, or a node per room).
    const nodes = await Promise.all(
      ['a', 'b'].map((n) =>
        server.services.db.clusterNode.create({ data: { hostname: `local-${n}-${Date.now()}`, dockerHost: null } }),
      ),
    );
    const channels = await Promise.all(
      [0, 1, 0, 1].map(async (i) => {
        const channel = await srtChannel();
        return server.services.db.channel.update({ where: { id: channel.id }, data: { nodeId: nodes[i].id } });
      }),
    );
    const rows = await Promise.all(channels.map((c) => startChannelSidecar(d, c.id)));
    expect(rows.map((r) => r.status)).toEqual(['RUNNING', 'RUNNING', 'RUNNING', 'RUNNING']);
    expect(new Set(rows.map((r) => r.sidecarPort)).size).toBe(4);
    // Each answers as its own channel: no start took a port another had just bound.
    for (const row of rows) {
      const answer = (await (await fetch(`${row.sidecarUrl}/`)).json()) as { channel: string };
      expect(answer.channel).toBe(row.id);
    }
    // The next pick for either node passes over every port of both (not only its own node's).
    const ports = rows.map((r) => r.sidecarPort);
    for (const node of nodes) {
      const next = await server.services.db.$transaction(async (tx) => {
        await lockNode(tx, node.id, hostWidePorts(d));
        return freeSidecarPort(tx, node.id, d.config.sidecar, { hostWide: hostWidePorts(d) });
      });
      expect(ports).not.toContain(next);
    }
    for (const c of channels) expect((await stopChannelSidecar(d, c.id)).status).toBe('STOPPED');
    expect(await d.orchestrator.list(null)).toEqual([]);
  });

  it('a stop the node engine cannot be reached for leaves ERROR, never STOPPED with an orphan', async () => {
    const node = await server.services.db.clusterNode.create({
      data: { hostname: `gone-${Date.now()}`, dockerHost: 'tcp://127.0.0.1:1' },
    });
    const channel = await insertChannel(server.services, null, {
      nodeId: node.id,
      status: 'RUNNING',
      sidecarRef: 'c0ffee',
      sidecarPort: 9999,
    });
    const d = deps(SERVE, new DockerOrchestrator({ image: 'onair-test-sidecar:latest', mediaVolumeDir: '/tmp' }));
    const row = await stopChannelSidecar(d, channel.id);
    expect(row).toMatchObject({ status: 'ERROR', sidecarRef: 'c0ffee' });
    expect(row.errorMessage).toMatch(/could not stop its sidecar/);
    await d.orchestrator.close();
  });

  it('two DeckLink channels racing for one device: one on air, the other CONFLICT; a reserved device is CONFLICT', async () => {
    const d = deps();
    const node = await server.services.db.clusterNode.create({
      data: { hostname: `deck-${Date.now()}`, decklinkDevices: 2 },
    });
    const deck = { outputType: 'DECKLINK' as const, output: { deviceIndex: 1 }, decklinkDevice: 1, nodeId: node.id };
    const [a, b] = [await insertChannel(server.services, null, deck), await insertChannel(server.services, null, deck)];
    const results = await Promise.allSettled([startChannelSidecar(d, a.id), startChannelSidecar(d, b.id)]);
    // Each start's outcome, with the reason of any failure but the expected CONFLICT.
    const outcomes = results.map((r) =>
      r.status === 'fulfilled'
        ? 'started'
        : r.reason.extensions?.code === 'CONFLICT'
          ? 'CONFLICT'
          : `${r.reason.extensions?.code}: ${r.reason.message}`,
    );
    expect(outcomes.sort()).toEqual(['CONFLICT', 'started']);

    const c = await insertChannel(server.services, null, { ...deck, decklinkDevice: 2, output: { deviceIndex: 2 } });
    await server.services.db.decklinkReservation.create({
      data: { nodeId: node.id, deviceIndex: 2, holder: 'recorder-3' },
    });
    await expect(startChannelSidecar(d, c.id)).rejects.toMatchObject({
      message: expect.stringContaining('reserved by recorder-3'),
    });
    expect((await server.services.db.channel.findUniqueOrThrow({ where: { id: c.id } })).status).toBe('STOPPED');
  });
});
