import { describe, expect, it } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// The database's own guard of DeckLink devices, under the lifecycle code to come:
// whatever the code does, two channels cannot both be on air on one device, and
// no reservation takes a device that is on air.
const { server } = useTestServer();

async function decklinkPair() {
  const { db } = server.services;
  const node = await db.clusterNode.create({
    data: { hostname: `dl-${Math.random().toString(36).slice(2)}`, decklinkDevices: 2 },
  });
  const deck = { outputType: 'DECKLINK' as const, output: { deviceIndex: 1 }, decklinkDevice: 1, nodeId: node.id };
  return {
    node,
    a: await insertChannel(server.services, null, deck),
    b: await insertChannel(server.services, null, deck),
  };
}

describe('DeckLink device guard', () => {
  it('lets exactly one of two racing starts take a device', async () => {
    const { db } = server.services;
    for (let round = 0; round < 5; round++) {
      const { a, b } = await decklinkPair();
      const start = (id: string) =>
        db.channel.updateMany({ where: { id, status: 'STOPPED' }, data: { status: 'STARTING' } });
      const results = await Promise.allSettled([start(a.id), start(b.id)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as { code?: string }).code).toBe('P2002');
    }
  });

  it('frees the device when the channel stops, and for another device index', async () => {
    const { db } = server.services;
    const { a, b } = await decklinkPair();
    await db.channel.update({ where: { id: a.id }, data: { status: 'RUNNING' } });
    await db.channel.update({ where: { id: b.id }, data: { decklinkDevice: 2, output: { deviceIndex: 2 } } });
    await expect(db.channel.update({ where: { id: b.id }, data: { status: 'STARTING' } })).resolves.toBeTruthy();
    await db.channel.update({
      where: { id: b.id },
      data: { status: 'STOPPED', decklinkDevice: 1, output: { deviceIndex: 1 } },
    });
    await db.channel.update({ where: { id: a.id }, data: { status: 'STOPPED' } });
    await expect(db.channel.update({ where: { id: b.id }, data: { status: 'STARTING' } })).resolves.toBeTruthy();
  });

  it('refuses a reservation of a device on air, and accepts it once the channel stopped', async () => {
    const { db } = server.services;
    const { node, a } = await decklinkPair();
    await db.channel.update({ where: { id: a.id }, data: { status: 'RUNNING' } });
    await expect(
      db.decklinkReservation.create({ data: { nodeId: node.id, deviceIndex: 1, holder: 'recorder-7' } }),
    ).rejects.toThrow();
    await expect(
      db.decklinkReservation.create({ data: { nodeId: node.id, deviceIndex: 2, holder: 'recorder-7' } }),
    ).resolves.toBeTruthy();
    await db.channel.update({ where: { id: a.id }, data: { status: 'STOPPED' } });
    await expect(
      db.decklinkReservation.create({ data: { nodeId: node.id, deviceIndex: 1, holder: 'recorder-8' } }),
    ).resolves.toBeTruthy();
  });
});
