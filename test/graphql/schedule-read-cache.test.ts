import { describe, expect, it } from 'vitest';
import { clearScheduleCache } from '../../src/domain/schedules/schedule-cache.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// Reads of a large schedule: `day` and `nowAndNext` of a 2,000-event day.
const { server, cast } = useTestServer();

const DAY = `query($id: ID!, $date: String!) { channel(id: $id) { schedule { version day(date: $date) {
  hours events { eventId status plannedStart } segments { kind start end } } } } }`;
const NOW = `query($id: ID!) { channel(id: $id) { schedule { nowAndNext { event { eventId } segment { kind } timeToNextHardMs } } } }`;

/** A UTC day of 2,000 events starting tomorrow 06:00: a HARD event every 40th, FOLLOW between. */
async function bigDay() {
  const channel = await insertChannel(server.services, cast.home.id, { videoFormat: '1080i5000' });
  const asset = await server.services.db.asset.create({
    data: {
      projectId: cast.home.id,
      filename: 'spot.mxf',
      storageKey: 'k',
      durationMs: 40_000,
      mediaStatus: 'READY',
      mediaPath: 'objects/spot.mxf',
    },
  });
  const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const from = Date.parse(`${date}T06:00:00Z`);
  await server.services.db.schedule.create({ data: { channelId: channel.id, timeZone: 'UTC', dayStart: '06:00' } });
  await server.services.db.scheduleEvent.createMany({
    data: Array.from({ length: 2000 }, (_, i) => ({
      channelId: channel.id,
      position: i,
      trigger: i % 40 === 0 ? ('HARD' as const) : ('FOLLOW' as const),
      at: i % 40 === 0 ? new Date(from + i * 43_000) : null,
      assetId: asset.id,
    })),
  });
  return { channelId: channel.id, date };
}

async function timed(run: () => Promise<unknown>, times: number) {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { first: ms[0], median: ms[Math.floor(ms.length / 2)], max: ms[ms.length - 1] };
}

describe('a 2,000-event day', () => {
  it('is planned once per version: later reads of it come from the plan kept for that version', async () => {
    const { channelId, date } = await bigDay();
    const read = () => server.gql(cast.viewer.token, DAY, { id: channelId, date });
    clearScheduleCache();
    const cold = await timed(read, 1);
    const day = await read();
    expect(day.errors).toBeUndefined();
    expect(day.data.channel.schedule.day.events).toHaveLength(2000);
    const warm = await timed(read, 10);
    const now = await timed(() => server.gql(cast.viewer.token, NOW, { id: channelId }), 10);
    console.log(
      `MEASURE day cold ${cold.median.toFixed(0)} ms, warm ${JSON.stringify(warm)}; nowAndNext ${JSON.stringify(now)}`,
    );
    expect(warm.median).toBeLessThan(cold.median);

    // A change written without a new version is not seen (it would not be by the sidecar either) ...
    const first = day.data.channel.schedule.day.events[0];
    await server.services.db.scheduleEvent.updateMany({
      where: { channelId, position: 0 },
      data: { at: new Date(Date.parse(first.plannedStart) + 60_000) },
    });
    expect((await read()).data.channel.schedule.day.events[0].plannedStart).toBe(first.plannedStart);
    // ... a new version is.
    await server.services.db.schedule.update({ where: { channelId }, data: { version: { increment: 1 } } });
    const after = await read();
    expect(after.data.channel.schedule.day.events[0].plannedStart).toBe(
      new Date(Date.parse(first.plannedStart) + 60_000).toISOString(),
    );
  }, 120_000);

  it('a request for many days or now/next at once is refused by its cost; a console of every channel is not', async () => {
    const { channelId, date } = await bigDay();
    // Aliases are at most 20 a document; over every channel (a list) they multiply.
    const days = Array.from({ length: 10 }, (_, i) => `d${i}: day(date: "${date}") { hours }`).join(' ');
    const refused = await server.gql(cast.viewer.token, `{ channels { schedule { ${days} } } }`);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', maxCost: 50_000 });
    const nows = Array.from({ length: 20 }, (_, i) => `n${i}: nowAndNext { positionMs }`).join(' ');
    const refusedNow = await server.gql(cast.viewer.token, `{ channels { schedule { ${nows} } } }`);
    expect(refusedNow.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', maxCost: 50_000 });
    const few = Array.from({ length: 3 }, (_, i) => `d${i}: day(date: "${date}") { hours }`).join(' ');
    const ok = await server.gql(cast.viewer.token, `{ channel(id: "${channelId}") { schedule { ${few} } } }`);
    expect(ok.errors).toBeUndefined();
  }, 120_000);
});
