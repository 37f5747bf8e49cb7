import { describe, expect, it } from 'vitest';
import { startControlLoop } from '../../src/worker/control.ts';
import { checkNodes } from '../../src/worker/node-health.ts';
import { ensureTestImage } from '../helpers/docker-image.ts';
import { uniq } from '../helpers/fixtures.ts';
import { startTestServer, useTestServer } from '../helpers/server.ts';

// Node health against the real Docker engine: its socket answers, a port
// where nothing listens does not.
const { server } = useTestServer(async () => ({
  ORCHESTRATOR: 'docker',
  SIDECAR_IMAGE: await ensureTestImage(),
  CONTROL_TICK_MS: '200',
  NODE_OFFLINE_AFTER_MS: '4000',
}));

const addNode = (dockerHost: string, extra: { online?: boolean; lastSeenAt?: Date } = {}) =>
  server.services.db.clusterNode.create({ data: { hostname: `n-${uniq()}`, dockerHost, ...extra } });
const read = (id: string) => server.services.db.clusterNode.findUniqueOrThrow({ where: { id } });

describe('node health', () => {
  it('a node whose engine answers goes online with lastSeenAt; one silent for NODE_OFFLINE_AFTER_MS goes offline', async () => {
    const before = new Date();
    const answering = await addNode('unix:///var/run/docker.sock');
    const silentLong = await addNode('tcp://127.0.0.1:1', { online: true, lastSeenAt: new Date(Date.now() - 60_000) });
    const silentBriefly = await addNode('tcp://127.0.0.1:1', { online: true, lastSeenAt: new Date() });

    const result = await checkNodes(server.services);
    expect(result).toMatchObject({ answered: 1, cameOnline: 1, wentOffline: 1 });
    const up = await read(answering.id);
    expect(up.online).toBe(true);
    expect(up.lastSeenAt!.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
    expect(await read(silentLong.id)).toMatchObject({ online: false });
    // One missed ping is not an outage: it stays online until NODE_OFFLINE_AFTER_MS have passed.
    expect(await read(silentBriefly.id)).toMatchObject({ online: true });

    const seen = up.lastSeenAt!;
    await new Promise((r) => setTimeout(r, 4100));
    expect(await checkNodes(server.services)).toMatchObject({ answered: 1, cameOnline: 0, wentOffline: 1 });
    expect(await read(silentBriefly.id)).toMatchObject({ online: false, lastSeenAt: silentBriefly.lastSeenAt });
    expect((await read(answering.id)).lastSeenAt!.getTime()).toBeGreaterThan(seen.getTime());
  });

  it('runs on the control loop', async () => {
    const node = await addNode('unix:///var/run/docker.sock');
    const worker = await startControlLoop(server.services);
    try {
      const deadline = Date.now() + 10_000;
      while (!(await read(node.id)).online) {
        if (Date.now() > deadline) throw new Error('the control loop never marked the node online');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await worker.close();
      await server.services.queues.control.removeJobScheduler('reconcile');
      await server.services.queues.control.removeJobScheduler('node-health');
      await server.services.queues.control.removeJobScheduler('heartbeats');
    }
    expect((await read(node.id)).lastSeenAt).not.toBeNull();
  });
});

describe('node health with local sidecars', () => {
  it('counts every node online: sidecars run on this machine, nodes are records', async () => {
    const local = await startTestServer();
    try {
      const node = await local.services.db.clusterNode.create({
        data: { hostname: `n-${uniq()}`, dockerHost: 'tcp://127.0.0.1:1' },
      });
      await checkNodes(local.services);
      expect(await local.services.db.clusterNode.findUniqueOrThrow({ where: { id: node.id } })).toMatchObject({
        online: true,
      });
    } finally {
      await local.close();
    }
  });
});
