import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/worker/reconcile.ts';
import { ensureTestImage, localDocker } from '../helpers/docker-image.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Reconciliation against the real Docker engine (scripts/docker-engine.sh).
let server: TestServer;
const port = () => 30_000 + Math.floor(Math.random() * 20_000);

beforeAll(async () => {
  server = await startTestServer({ ORCHESTRATOR: 'docker', SIDECAR_IMAGE: await ensureTestImage(), SIDECAR_COMMAND: '' });
});
afterAll(async () => {
  // Nothing of this file's may outlive it.
  const docker = localDocker();
  for (const c of await docker.listContainers({ all: true, filters: { label: ['onair.managed=true'] } })) {
    const channelId = c.Labels['onair.channel'];
    if (channelId && (await server.services.db.channel.findUnique({ where: { id: channelId } }))) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  }
  await server?.close();
});

const spawnSidecar = (channelId: string) =>
  server.services.orchestrator.start({ channelId, secret: randomBytes(24).toString('hex'), env: {}, port: port(), node: null });

describe('reconciliation', () => {
  it('removes a sidecar no channel on air claims, keeps the claimed one, and marks a RUNNING channel whose sidecar is gone', async () => {
    const { db, orchestrator } = server.services;
    const stopped = await insertChannel(server.services, null);
    const orphan = await spawnSidecar(stopped.id);

    const onAir = await insertChannel(server.services, null);
    const claimed = await spawnSidecar(onAir.id);
    await db.channel.update({ where: { id: onAir.id }, data: { status: 'RUNNING', sidecarRef: claimed.ref, sidecarUrl: claimed.url } });

    const lost = await insertChannel(server.services, null, { status: 'RUNNING', sidecarRef: 'f'.repeat(64) });

    const result = await reconcile(server.services);
    expect(result.removed).toBeGreaterThanOrEqual(1);
    const refs = (await orchestrator.list(null)).map((s) => s.ref);
    expect(refs).not.toContain(orphan.ref);
    expect(refs).toContain(claimed.ref);
    expect(await db.channel.findUniqueOrThrow({ where: { id: lost.id } })).toMatchObject({ status: 'ERROR', errorMessage: 'its sidecar is gone' });
    expect((await db.channel.findUniqueOrThrow({ where: { id: onAir.id } })).status).toBe('RUNNING');

    await orchestrator.stop(onAir.id, claimed.ref, null);
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
    const node = await server.services.db.clusterNode.create({ data: { hostname: `dark-${Date.now()}`, dockerHost: 'tcp://127.0.0.1:1' } });
    const running = await insertChannel(server.services, null, { nodeId: node.id, status: 'RUNNING', sidecarRef: 'abc' });
    const result = await reconcile(server.services);
    expect(result.unreachable).toBeGreaterThanOrEqual(1);
    expect((await server.services.db.channel.findUniqueOrThrow({ where: { id: running.id } })).status).toBe('RUNNING');
  });
});

describe('reconciliation of local sidecars', () => {
  it('marks a RUNNING channel whose sidecar process is gone, and leaves a live one alone', async () => {
    const local = await startTestServer();
    try {
      const { db } = local.services;
      const gone = await insertChannel(local.services, null, { status: 'RUNNING', sidecarRef: '2147483000' });
      const live = await insertChannel(local.services, null, { status: 'RUNNING', sidecarRef: String(process.pid) });
      const result = await reconcile(local.services);
      expect(result.lost).toBe(1);
      expect(await db.channel.findUniqueOrThrow({ where: { id: gone.id } })).toMatchObject({ status: 'ERROR', errorMessage: 'its sidecar is gone' });
      expect((await db.channel.findUniqueOrThrow({ where: { id: live.id } })).status).toBe('RUNNING');
    } finally {
      await local.close();
    }
  });
});
