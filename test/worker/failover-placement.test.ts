import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failOver } from '../../src/domain/channels/failover.ts';
import { DockerOrchestrator } from '../../src/services/orchestrator/docker.ts';
import type { ChannelEventMessage } from '../../src/services/pubsub.ts';
import { failOverSilentChannels } from '../../src/worker/heartbeat-timeouts.ts';
import { checkNodes } from '../../src/worker/node-health.ts';
import { ensureTestImage, localDocker } from '../helpers/docker-image.ts';
import { insertChannel, sidecarPortBase } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// Placement on failover with the Docker orchestrator and the stand-in sidecar
// image (it serves HTTP but cannot play: playout resume is tested with real
// sidecars in failover.test.ts). Each node is a TCP relay to the local engine,
// so a node dies when its relay closes.
const { server } = useTestServer(async () => ({
  ORCHESTRATOR: 'docker',
  SIDECAR_IMAGE: await ensureTestImage(),
  SIDECAR_COMMAND: '',
  SIDECAR_PORT_BASE: String(sidecarPortBase(50)),
  SIDECAR_PORT_COUNT: '50',
  HEARTBEAT_TIMEOUT_MS: '2000',
  NODE_OFFLINE_AFTER_MS: '100',
}));
const relays: Relay[] = [];
const events: ChannelEventMessage[] = [];
let listening: Promise<void>;
let subscription: AsyncGenerator<ChannelEventMessage> & { return(): Promise<unknown> };

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** A Docker engine at tcp://127.0.0.1:<port> until closed (then nothing answers there). */
async function relay(): Promise<Relay> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((client) => {
    const engine = connect('/var/run/docker.sock');
    sockets.add(client).add(engine);
    client.pipe(engine).pipe(client);
    const end = () => {
      client.destroy();
      engine.destroy();
    };
    client.on('error', end).on('close', end);
    engine.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const r: Relay = {
    port: (srv.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
  relays.push(r);
  return r;
}

async function node(labels: string[], decklinkDevices = 0) {
  const r = await relay();
  const row = await server.services.db.clusterNode.create({
    // Its address: a loopback address of its own (all of 127/8 is loopback), where its sidecars listen.
    data: {
      hostname: `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`,
      dockerHost: `tcp://127.0.0.1:${r.port}`,
      labels,
      decklinkDevices,
    },
  });
  return { ...row, relay: r };
}

const sidecarsOf = async (channelId: string) =>
  (await localDocker().listContainers({ all: true, filters: { label: [`onair.channel=${channelId}`] } })).map(
    (c) => c.Id,
  );

/** A channel RUNNING on `nodeId` with a real (stand-in) sidecar, its heartbeat long gone. */
async function silentChannel(nodeId: string, extra: Parameters<typeof insertChannel>[2] = {}) {
  const { db, orchestrator, config } = server.services;
  const channel = await insertChannel(server.services, null, {
    nodeId,
    outputType: 'SRT',
    output: { url: 'srt://127.0.0.1:9', latencyMs: null, passphraseSet: false },
    ...extra,
  });
  const nodeRow = await db.clusterNode.findUniqueOrThrow({ where: { id: nodeId } });
  const port = config.sidecar.portBase + Math.floor(Math.random() * config.sidecar.portCount);
  const handle = await orchestrator.start({
    channelId: channel.id,
    secret: randomBytes(24).toString('hex'),
    env: {},
    port,
    node: { id: nodeRow.id, hostname: nodeRow.hostname, dockerHost: nodeRow.dockerHost },
  });
  return db.channel.update({
    where: { id: channel.id },
    data: {
      status: 'RUNNING',
      sidecarRef: handle.ref,
      sidecarUrl: handle.url,
      sidecarPort: port,
      lastHeartbeatAt: new Date(Date.now() - 60_000),
    },
  });
}

const eventsOf = (channelId: string) => events.filter((e) => e.channelId === channelId);

beforeAll(async () => {
  // The stand-in image cannot answer the health challenge (the real image does: test/e2e/docker-image.test.ts).
  const dockerConfig = server.services.config.orchestrator.docker!;
  Object.assign(server.services, { orchestrator: new DockerOrchestrator({ ...dockerConfig, verifyIdentity: false }) });
  subscription = server.services.pubsub.subscribe('channelEvents') as never;
  listening = (async () => {
    for await (const e of subscription) events.push(e);
  })();
  // Redis SUBSCRIBE is asynchronous: let it take hold before anything is published.
  await new Promise((r) => setTimeout(r, 300));
});

afterAll(async () => {
  await subscription?.return();
  await listening;
  const docker = localDocker();
  for (const c of await docker.listContainers({ all: true, filters: { label: ['onair.managed=true'] } })) {
    const channelId = c.Labels['onair.channel'];
    if (channelId && (await server.services.db.channel.findUnique({ where: { id: channelId } }))) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
    }
  }
  for (const r of relays) await r.close();
});

describe('failover placement', () => {
  it('moves a channel off a dead node to an online node with the labels it needs', async () => {
    const { db } = server.services;
    const dead = await node(['srt']);
    const unlabelled = await node([]);
    const target = await node(['srt']);
    const channel = await silentChannel(dead.id);
    await dead.relay.close();
    await checkNodes(server.services);
    await until(async () => {
      await checkNodes(server.services);
      return !(await db.clusterNode.findUniqueOrThrow({ where: { id: dead.id } })).online;
    }, 'the dead node to go offline');
    expect((await db.clusterNode.findUniqueOrThrow({ where: { id: unlabelled.id } })).online).toBe(true);

    const result = await failOverSilentChannels(server.services);
    expect(result).toMatchObject({ stale: 1, restarted: 1, failed: 0 });
    const after = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(after).toMatchObject({ status: 'RUNNING', nodeId: target.id, restartCount: 1, errorMessage: null });
    expect(after.lastRestartAt).not.toBeNull();
    expect(after.sidecarRef).not.toBe(channel.sidecarRef);
    // The old container (left on the dead node) was replaced: one sidecar, the new one.
    expect(await sidecarsOf(channel.id)).toEqual([after.sidecarRef]);

    await until(() => eventsOf(channel.id).some((e) => e.kind === 'FAILOVER'), 'FAILOVER');
    const kinds = eventsOf(channel.id).map((e) => [e.kind, e.message]);
    expect(kinds).toEqual([
      ['HEARTBEAT_LOST', `no heartbeat from its sidecar for 2 s on node ${dead.hostname}`],
      ['STATUS_CHANGED', 'failing over'],
      ['STATUS_CHANGED', null],
      [
        'FAILOVER',
        `moved from node ${dead.hostname} to node ${target.hostname}; playback not resumed: nothing was playing`,
      ],
    ]);
  });

  it('restarts a channel on its own node when that node is online, even with idler nodes about', async () => {
    const { db } = server.services;
    const own = await node(['srt']);
    await node(['srt']);
    const channel = await silentChannel(own.id);
    await checkNodes(server.services);

    expect(
      await failOver(server.services, channel.id, { kind: 'HEARTBEAT_TIMEOUT', sidecarRef: channel.sidecarRef }),
    ).toMatchObject({
      outcome: 'RESTARTED',
      fromNodeId: own.id,
      toNodeId: own.id,
    });
    const after = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(after).toMatchObject({ status: 'RUNNING', nodeId: own.id, restartCount: 1 });
    expect(await sidecarsOf(channel.id)).toEqual([after.sidecarRef]);
    await until(() => eventsOf(channel.id).some((e) => e.kind === 'FAILOVER'), 'FAILOVER');
    expect(eventsOf(channel.id).find((e) => e.kind === 'FAILOVER')?.message).toMatch(
      new RegExp(`^restarted on node ${own.hostname};`),
    );
  });

  it('leaves ERROR with the reason when no online node can take the channel', async () => {
    const { db } = server.services;
    const dead = await node(['rtmp']);
    await node(['srt']); // online, but not labelled rtmp
    const channel = await silentChannel(dead.id, {
      outputType: 'RTMP',
      output: { url: 'rtmp://127.0.0.1/live', streamKeySet: false },
    });
    await dead.relay.close();
    await until(async () => {
      await checkNodes(server.services);
      return !(await db.clusterNode.findUniqueOrThrow({ where: { id: dead.id } })).online;
    }, 'the dead node to go offline');

    const outcome = await failOver(server.services, channel.id, {
      kind: 'HEARTBEAT_TIMEOUT',
      sidecarRef: channel.sidecarRef,
    });
    const reason = `failover found no node: node ${dead.hostname} is offline and no other online node is labelled rtmp`;
    expect(outcome).toEqual({ outcome: 'ERROR', reason });
    const after = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(after).toMatchObject({ status: 'ERROR', errorMessage: reason, nodeId: dead.id, restartCount: 0 });
    // Its node could not confirm the removal: the reference stays for stopChannel (and reconciliation).
    expect(after.sidecarRef).toBe(channel.sidecarRef);
    await until(
      () => eventsOf(channel.id).some((e) => e.kind === 'STATUS_CHANGED' && e.message === reason),
      'the ERROR status event',
    );
  });

  it('never moves a DeckLink channel: ERROR, and an event for the operators', async () => {
    const { db } = server.services;
    const own = await node(['srt'], 2);
    await node(['srt', 'decklink'], 2);
    const channel = await silentChannel(own.id, {
      outputType: 'DECKLINK',
      output: { deviceIndex: 1 },
      decklinkDevice: 1,
    });
    await checkNodes(server.services);

    const outcome = await failOver(server.services, channel.id, {
      kind: 'HEARTBEAT_TIMEOUT',
      sidecarRef: channel.sidecarRef,
    });
    expect(outcome.outcome).toBe('ERROR');
    const after = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(after).toMatchObject({
      status: 'ERROR',
      nodeId: own.id,
      restartCount: 0,
      sidecarRef: null,
      sidecarPort: null,
    });
    expect(after.errorMessage).toContain('a DeckLink channel is not moved to another node');
    // Its lost sidecar is removed, so the device is free for the operators' restart.
    expect(await sidecarsOf(channel.id)).toEqual([]);
    await until(() => eventsOf(channel.id).length >= 2, 'the events');
    expect(eventsOf(channel.id).map((e) => e.kind)).toEqual(['HEARTBEAT_LOST', 'STATUS_CHANGED']);
    expect(eventsOf(channel.id)[1].message).toContain(
      'no heartbeat from its sidecar for 2 s: a DeckLink channel is not moved',
    );
  });

  it('two failovers racing on one channel restart it once', async () => {
    const { db } = server.services;
    const own = await node(['srt']);
    const channel = await silentChannel(own.id);
    await checkNodes(server.services);
    const cause = { kind: 'HEARTBEAT_TIMEOUT', sidecarRef: channel.sidecarRef } as const;
    const outcomes = await Promise.all([
      failOver(server.services, channel.id, cause),
      failOver(server.services, channel.id, cause),
    ]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['RESTARTED', 'SKIPPED']);
    const after = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(after).toMatchObject({ status: 'RUNNING', restartCount: 1 });
    expect(await sidecarsOf(channel.id)).toEqual([after.sidecarRef]);
  });

  it('leaves a channel whose heartbeat came back, or that already runs another sidecar', async () => {
    const { db } = server.services;
    const own = await node(['srt']);
    const channel = await silentChannel(own.id);
    await db.channel.update({ where: { id: channel.id }, data: { lastHeartbeatAt: new Date() } });
    expect(
      await failOver(server.services, channel.id, { kind: 'HEARTBEAT_TIMEOUT', sidecarRef: channel.sidecarRef }),
    ).toEqual({ outcome: 'SKIPPED' });
    expect(
      await failOver(server.services, channel.id, { kind: 'SIDECAR_GONE', sidecarRef: 'another-sidecar' }),
    ).toEqual({ outcome: 'SKIPPED' });
    expect(await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).toMatchObject({
      status: 'RUNNING',
      restartCount: 0,
      sidecarRef: channel.sidecarRef,
    });
  });
});
