import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerOrchestrator } from '../../src/services/orchestrator/docker.ts';
import { reconcile } from '../../src/worker/reconcile.ts';
import { ensureTestImage, localDocker } from '../helpers/docker-image.ts';
import { insertChannel, sidecarPortBase } from '../helpers/fixtures.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

// Reconciliation against the real Docker engine (scripts/docker-engine.sh).
const port = () => sidecarPortBase(20);
const { server } = useTestServer(async () => ({
  ORCHESTRATOR: 'docker',
  SIDECAR_IMAGE: await ensureTestImage(),
  SIDECAR_COMMAND: '',
  SIDECAR_PORT_BASE: String(port()),
  SIDECAR_PORT_COUNT: '20',
}));

beforeAll(async () => {
  // The stand-in image cannot answer the health challenge (the real image does: test/e2e/docker-image.test.ts).
  const dockerConfig = server.services.config.orchestrator.docker!;
  Object.assign(server.services, { orchestrator: new DockerOrchestrator({ ...dockerConfig, verifyIdentity: false }) });
});
afterAll(async () => {
  // Nothing of this file's may outlive it.
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
});

const spawnSidecar = (channelId: string) =>
  server.services.orchestrator.start({
    channelId,
    secret: randomBytes(24).toString('hex'),
    env: {},
    port: port(),
    node: null,
  });

describe('reconciliation', () => {
  it('removes a sidecar no channel on air claims, keeps the claimed one, and fails over a RUNNING channel whose sidecar is gone', async () => {
    const { db, orchestrator } = server.services;
    const stopped = await insertChannel(server.services, null);
    const orphan = await spawnSidecar(stopped.id);

    const onAir = await insertChannel(server.services, null);
    const claimed = await spawnSidecar(onAir.id);
    await db.channel.update({
      where: { id: onAir.id },
      data: { status: 'RUNNING', sidecarRef: claimed.ref, sidecarUrl: claimed.url },
    });

    // Its heartbeat is fresh: the orchestrator's word that the sidecar is gone is enough, no timeout waited for.
    const lost = await insertChannel(server.services, null, {
      status: 'RUNNING',
      sidecarRef: 'f'.repeat(64),
      lastHeartbeatAt: new Date(),
    });

    const result = await reconcile(server.services);
    expect(result).toMatchObject({ lost: 1 });
    expect(result.removed).toBeGreaterThanOrEqual(1);
    const refs = (await orchestrator.list(null)).map((s) => s.ref);
    expect(refs).not.toContain(orphan.ref);
    expect(refs).toContain(claimed.ref);
    const restarted = await db.channel.findUniqueOrThrow({ where: { id: lost.id } });
    expect(restarted).toMatchObject({ status: 'RUNNING', restartCount: 1, errorMessage: null });
    expect(refs).toContain(restarted.sidecarRef);
    expect((await db.channel.findUniqueOrThrow({ where: { id: onAir.id } })).status).toBe('RUNNING');

    await orchestrator.stop(onAir.id, claimed.ref, null);
    await orchestrator.stop(lost.id, restarted.sidecarRef!, null);
  });

  it('leaves the sidecar of a channel that is starting alone', async () => {
    const { db, orchestrator } = server.services;
    const starting = await insertChannel(server.services, null, { status: 'STARTING' });
    const sidecar = await spawnSidecar(starting.id);
    await reconcile(server.services);
    expect((await orchestrator.list(null)).map((s) => s.ref)).toContain(sidecar.ref);
    await orchestrator.stop(starting.id, sidecar.ref, null);
    await db.channel.update({ where: { id: starting.id }, data: { status: 'STOPPED' } });
  });

  it('skips a node whose engine does not answer', async () => {
    const node = await server.services.db.clusterNode.create({
      data: { hostname: `dark-${Date.now()}`, dockerHost: 'tcp://127.0.0.1:1' },
    });
    const running = await insertChannel(server.services, null, {
      nodeId: node.id,
      status: 'RUNNING',
      sidecarRef: 'abc',
    });
    const result = await reconcile(server.services);
    expect(result.unreachable).toBeGreaterThanOrEqual(1);
    expect((await server.services.db.channel.findUniqueOrThrow({ where: { id: running.id } })).status).toBe('RUNNING');
  });
});

describe('reconciliation of local sidecars', () => {
  it('fails over a RUNNING channel whose sidecar process is gone, and leaves a live one alone', async () => {
    const local = await startTestServer({ SIDECAR_PORT_BASE: String(port()), SIDECAR_PORT_COUNT: '20' });
    try {
      const { db } = local.services;
      const gone = await insertChannel(local.services, null, {
        status: 'RUNNING',
        sidecarRef: '2147483000',
        lastHeartbeatAt: new Date(),
        outputType: 'SRT',
        output: { url: 'srt://127.0.0.1:9', latencyMs: null, passphraseSet: false },
      });
      const live = await insertChannel(local.services, null, {
        status: 'RUNNING',
        sidecarRef: String(process.pid),
        lastHeartbeatAt: new Date(),
      });
      const result = await reconcile(local.services);
      expect(result.lost).toBe(1);
      // A new sidecar process of its own, answering.
      const restarted = await db.channel.findUniqueOrThrow({ where: { id: gone.id } });
      expect(restarted).toMatchObject({ status: 'RUNNING', restartCount: 1 });
      expect(await local.services.orchestrator.list(null)).toEqual([
        { channelId: gone.id, ref: restarted.sidecarRef, running: true },
      ]);
      expect((await fetch(`${restarted.sidecarUrl}/healthz`)).ok).toBe(true);
      expect((await db.channel.findUniqueOrThrow({ where: { id: live.id } })).status).toBe('RUNNING');
    } finally {
      await local.close();
    }
  });
});
