import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { createChannelWithPlaylist } from '../e2e/as-run-helpers.ts';
import { testPort } from '../helpers/fixtures.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { field, openConsole, type TabRecord, useConsoleServer } from './console-browser.ts';

// Taking a MANUAL event from the schedule's day view, in Debian's chromium against a real onair
// and a real sidecar playing the schedule to an SRT receiver: the event holds (filler airs), an
// operator takes it with a confirmation, and the view and the API agree it is on air. A viewer is
// shown no Take button; the API refuses a viewer's take anyway.
const CLIPS = { 'filler.mp4': 6, 'ident.mp4': 4, 'prog.mp4': 16 };
const SRT_PORT = testPort();

const {
  server,
  cast,
  console: onair,
} = useConsoleServer(CLIPS, {
  EVENTS_WAIT_MS: '1000',
  // A sidecar on a machine short of CPU (2 cores, shared) can take longer than 15 s to start.
  SIDECAR_START_TIMEOUT_MS: '60000',
});
let workers: Workers;
let receiver: { close(): void } | undefined;
let channelId: string;
const assets: Record<string, string> = {};
const tab: TabRecord = { blocked: [], pageErrors: [] };

async function gql(token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await server.gql(token, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data;
}

beforeAll(async () => {
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
  let playlistId: string;
  // A playlist of both clips stages them; the schedule names their assets.
  ({ channelId, playlistId } = await createChannelWithPlaylist(
    server.gql,
    cast,
    SRT_PORT,
    Object.entries(CLIPS).map(([name, s]) => [name, s * 1000]),
    '576p2500',
  ));
  const { playlist } = await gql(
    cast.viewer.token,
    `{ playlist(id: "${playlistId}") { items { asset { id filename } } } }`,
  );
  for (const { asset } of playlist.items) assets[asset.filename] = asset.id;
}, 120_000);

afterAll(async () => {
  if (channelId) await server.gql(cast.admin.token, `mutation { stopChannel(id: "${channelId}") { status } }`);
  receiver?.close();
  await workers?.close();
});

const ENGINE = `query($id: ID!) { channel(id: $id) { engine { current { clipName } schedule { onAir { eventId kind fills } } } } }`;
const NOW = `query($id: ID!) { channel(id: $id) { schedule { nowAndNext { event { eventId } } } } }`;
const AS_RUN = `query($c: ID!) { asRun(channelId: $c, first: 20) { edges { node { clipName scheduleEventId fills } } } }`;
const eventRow = (page: Page, eventId: string) => page.locator(`tr[data-event-id="${eventId}"]`);

describe("a schedule's MANUAL event", () => {
  it('holds with filler until an operator takes it from the day view, then airs; a viewer gets no Take', async () => {
    const t0 = performance.now();
    const op = cast.operator.token;
    await gql(op, `mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
      c: channelId,
      a: [assets['filler.mp4']],
    });
    // An ident at a fixed time (a schedule starts with a timed event), then the MANUAL event.
    const add = async (input: Record<string, unknown>) =>
      (
        await gql(op, `mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { eventId } }`, {
          i: { channelId, ...input },
        })
      ).addScheduleEvent.eventId as string;
    await add({
      trigger: 'HARD',
      at: new Date(Math.ceil(Date.now() / 1000) * 1000 + 5_000).toISOString(),
      assetId: assets['ident.mp4'],
    });
    const manual = await add({ trigger: 'MANUAL', assetId: assets['prog.mp4'] });
    await gql(op, `mutation { startChannel(id: "${channelId}") { status } }`);
    await until(
      async () => (await gql(op, ENGINE, { id: channelId })).channel.engine?.schedule?.onAir?.fills === 'MANUAL',
      'the MANUAL event held with filler',
      60_000,
    );

    console.log(`take test: the MANUAL event holds after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // A viewer sees the event holding, and no Take.
    const viewer = await openConsole(onair.browser, onair.origin, cast.viewer.token, tab, {
      path: `channels/${channelId}/schedule`,
    });
    await expect.poll(() => field(eventRow(viewer, manual), 'status').textContent()).toContain('HOLDING');
    expect(await eventRow(viewer, manual).getByRole('button', { name: 'Take' }).count()).toBe(0);

    // An operator takes it: asked first, cancelled, nothing happens; confirmed, it airs.
    const page = await openConsole(onair.browser, onair.origin, op, tab, { path: `channels/${channelId}/schedule` });
    const row = eventRow(page, manual);
    await expect.poll(() => field(row, 'status').textContent()).toContain('HOLDING');
    await row.getByRole('button', { name: 'Take' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm' });
    await dialog.getByText('Take prog.mp4 on').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await gql(op, ENGINE, { id: channelId })).channel.engine.schedule.onAir.fills).toBe('MANUAL');
    await row.getByRole('button', { name: 'Take' }).click();
    await dialog.getByRole('button', { name: 'Take' }).click();

    console.log(`take test: taken from the page after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // The view shows it on air (and the Take gone); the API agrees, the sidecar plays its clip.
    // (What the page says instead, an error of the take, shows if it does not.)
    await expect
      .poll(
        async () =>
          (await row.getAttribute('aria-current')) ??
          `${await field(row, 'status').textContent()} ${(await page.getByRole('alert').allTextContents()).join(' ')}`,
        { timeout: 30_000 },
      )
      .toBe('true');
    expect(await field(row, 'status').textContent()).toContain('ON AIR');
    expect(await row.getByRole('button', { name: 'Take' }).count()).toBe(0);
    expect(await field(page, 'on-air-clip').textContent()).toBe('prog.mp4');
    const { nowAndNext } = (await gql(op, NOW, { id: channelId })).channel.schedule;
    expect(nowAndNext.event.eventId).toBe(manual);
    const aired = await until(
      async () =>
        (await gql(op, AS_RUN, { c: channelId })).asRun.edges
          .map((e: { node: { scheduleEventId: string | null; fills: string | null } }) => e.node)
          .find(
            (n: { scheduleEventId: string | null; fills: string | null }) => n.scheduleEventId === manual && !n.fills,
          ),
      'the take in the as-run',
      20_000,
    );
    expect(aired.clipName).toBe('prog.mp4');
    // The viewer's view follows as the as-run of the take arrives.
    await expect.poll(() => eventRow(viewer, manual).getAttribute('aria-current'), { timeout: 10_000 }).toBe('true');

    expect(tab.pageErrors).toEqual([]);
    expect(tab.blocked).toEqual([]);
    await page.context().close();
    await viewer.context().close();
  }, 240_000);
});
