import path from 'node:path';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../console/src/lib/schedule-time.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { countdownMs, field, openConsole, type TabRecord, useConsoleServer } from './console-browser.ts';

// A channel's schedule day view in Debian's chromium against a real onair: a schedule of HARD and
// FOLLOW events with a filler pool built through the API (the channel need not run: the view is
// the plan), the planned times the API gives, the countdown to the next HARD start against the
// API's figure, the event on air once its time comes, and an edit through the API shown live.
const SCREENSHOT = process.env.ONAIR_SCREENSHOTS === '1' ? path.resolve('docs/console-schedule.png') : null;
const ZONE = 'Europe/Paris';
const FPS = 25; // 1080i5000
const FRAME_MS = 1000 / FPS;

const { server, cast, console: onair } = useConsoleServer();
let browser: Browser;
let origin: string;
const tab: TabRecord = { blocked: [], pageErrors: [] };
beforeAll(() => {
  ({ browser, origin } = onair);
});

async function gql(token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await server.gql(token, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data;
}

function asset(filename: string, durationMs: number, staged = true) {
  return server.services.db.asset.create({
    data: {
      projectId: cast.home.id,
      filename,
      storageKey: `clips/${filename}`,
      durationMs,
      ...(staged && { mediaStatus: 'READY', mediaPath: `objects/${filename}` }),
    },
  });
}

/** HH:MM:SS:FF of an instant on the zone's wall clock (frames of the second at 25 fps), as an operator reads it. */
function wallClock(iso: string): string {
  const ms = Date.parse(iso);
  const hms = new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE,
    hourCycle: 'h23',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(new Date(ms));
  return `${hms}:${String(Math.round((ms % 1000) / FRAME_MS)).padStart(2, '0')}`;
}

const ADD = `mutation($input: AddScheduleEventInput!) { addScheduleEvent(input: $input) { eventId version } }`;
const DAY = `query($id: ID!, $date: String!) { channel(id: $id) { schedule { version day(date: $date) {
  date events { eventId trigger status plannedStart plannedEnd missingClips underrunFrames }
  segments { kind eventId fills start end } } } } }`;
const NOW = `query($id: ID!) { channel(id: $id) { schedule { nowAndNext {
  at timeToNextHardMs event { eventId } nextHardEvent { eventId time } } } } }`;

const eventRow = (page: Page, eventId: string) => page.locator(`tr[data-event-id="${eventId}"]`);

/** The page's next-HARD countdown against the API's figure, read around the page's. */
async function countdownAgainstApi(page: Page, channelId: string) {
  const { nowAndNext } = (await gql(cast.viewer.token, NOW, { id: channelId })).channel.schedule;
  const before = Date.now();
  const shown = countdownMs((await field(page, 'next-hard').textContent()) ?? '', FPS);
  const after = Date.now();
  // The API's figure as it stands at the read: its time to the next HARD start at `at`, less the time since.
  const at = Date.parse(nowAndNext.at);
  return {
    nowAndNext,
    shown,
    latest: nowAndNext.timeToNextHardMs - (before - at),
    earliest: nowAndNext.timeToNextHardMs - (after - at),
  };
}

describe("a channel's schedule day view", () => {
  it('shows the planned day, counts down to the next HARD start with the API, follows the plan on air and edits live', async () => {
    const channel = await insertChannel(server.services, cast.home.id, { name: 'Sched', videoFormat: '1080i5000' });
    const [opener, news, missing, promo, filler] = await Promise.all([
      asset('opener.mxf', 20_000),
      asset('news.mxf', 30_000),
      asset('late-delivery.mxf', 15_000, false),
      asset('promo.mxf', 12_000),
      asset('filler.mxf', 10_000),
    ]);
    const op = cast.operator.token;
    // The broadcast day starts two hours ago in Paris, so the test's events fall in today's day.
    const dayStart = new Intl.DateTimeFormat('en-GB', {
      timeZone: ZONE,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
    }).format(new Date(Date.now() - 2 * 3_600_000));
    await gql(
      op,
      `mutation($c: ID!, $i: UpdateScheduleInput!) { updateSchedule(channelId: $c, input: $i) { version } }`,
      {
        c: channel.id,
        i: { timeZone: ZONE, dayStart },
      },
    );
    await gql(op, `mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
      c: channel.id,
      a: [filler.id],
    });
    const second = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000).toISOString();
    const hard1At = second(Date.now() + 40_000);
    const hard2At = second(Date.now() + 300_000);
    const add = async (input: Record<string, unknown>) =>
      (await gql(op, ADD, { input: { channelId: channel.id, ...input } })).addScheduleEvent.eventId as string;
    const hard1 = await add({ trigger: 'HARD', at: hard1At, assetId: opener.id });
    const follow1 = await add({ trigger: 'FOLLOW', assetId: news.id });
    const follow2 = await add({ trigger: 'FOLLOW', assetId: missing.id });
    const hard2 = await add({ trigger: 'HARD', at: hard2At, assetId: promo.id });
    const follow3 = await add({ trigger: 'FOLLOW', assetId: opener.id });

    // A viewer reads the schedule (and gets nothing to change it with).
    const sockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
    let cut = false;
    const page = await openConsole(browser, origin, cast.viewer.token, tab, {
      path: `channels/${channel.id}/schedule`,
      viewport: { width: 1400, height: 900 },
      onSocket: (ws) => {
        if (cut) return void ws.close({ code: 1012, reason: 'cut by the test' });
        sockets.push({ page: ws, server: ws.connectToServer() });
      },
    });
    const view = page.getByRole('article', { name: 'Schedule of Sched' });
    await view.waitFor();
    await expect.poll(() => field(view, 'zone').textContent()).toContain(ZONE);

    // Every event with the planned times the API gives, on the channel's zone's clock.
    const date = (await page.getByLabel('Broadcast day').inputValue()) as string;
    const { day } = (await gql(cast.viewer.token, DAY, { id: channel.id, date })).channel.schedule;
    expect(day.events.map((e: { eventId: string }) => e.eventId)).toEqual([hard1, follow1, follow2, hard2, follow3]);
    await expect.poll(() => view.locator('tr[data-row="event"]').count()).toBe(5);
    for (const e of day.events) {
      const row = eventRow(page, e.eventId);
      expect(await field(row, 'trigger').textContent()).toContain(e.trigger);
      expect(await field(row, 'planned-start').textContent()).toBe(wallClock(e.plannedStart));
      expect(await field(row, 'planned-end').textContent()).toBe(wallClock(e.plannedEnd));
      expect((await field(row, 'status').textContent())?.trim()).toBe(e.status);
      expect(await field(row, 'missing').count()).toBe(e.missingClips > 0 ? 1 : 0);
      if (e.underrunFrames > 0) expect(await field(row, 'figures').textContent()).toContain('under');
    }
    expect(wallClock(day.events[0].plannedStart)).toBe(wallClock(hard1At));
    expect(await field(eventRow(page, follow2), 'missing').textContent()).toBe('1 missing');
    // Filler before the first HARD event, between the FOLLOW chain's end and the second, and to the day's end.
    const rowKinds = await view.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row')));
    expect(rowKinds).toEqual(['gap', 'event', 'event', 'event', 'gap', 'event', 'event', 'gap']);
    const gapFills = await view.locator('tr[data-row="gap"]').allTextContents();
    expect(gapFills.every((text) => text.includes('Filler (GAP)'))).toBe(true);
    expect(await field(view, 'filler').textContent()).toBe('filler.mxf');

    // The countdown to the next HARD start moves, and agrees with the API's figure within two frames.
    expect(await field(view, 'next-hard-at').textContent()).toBe(wallClock(hard1At));
    const samples = [];
    for (let i = 0; i < 3; i++) {
      samples.push(await countdownAgainstApi(page, channel.id));
      await page.waitForTimeout(700);
    }
    for (const s of samples) {
      expect(s.nowAndNext.nextHardEvent.eventId).toBe(hard1);
      expect(Date.parse(s.nowAndNext.at) + s.nowAndNext.timeToNextHardMs).toBe(Date.parse(hard1At));
      expect(s.shown).toBeGreaterThanOrEqual(s.earliest - 2 * FRAME_MS);
      expect(s.shown).toBeLessThanOrEqual(s.latest + 2 * FRAME_MS);
    }
    expect(samples[0].shown - samples[2].shown).toBeGreaterThan(1_000);

    // Its time comes: the first HARD event is on air, highlighted with its countdown, and the
    // countdown turns to the second HARD start.
    await expect
      .poll(() => eventRow(page, hard1).getAttribute('aria-current'), { timeout: 60_000, interval: 200 })
      .toBe('true');
    expect(await field(eventRow(page, hard1), 'status').textContent()).toContain('ON AIR');
    const left = countdownMs((await field(eventRow(page, hard1), 'event-remaining').textContent()) ?? '', FPS);
    expect(left).toBeGreaterThan(15_000);
    expect(left).toBeLessThanOrEqual(20_000);
    await expect.poll(() => field(view, 'next-hard-at').textContent()).toBe(wallClock(hard2At));
    const afterTake = await countdownAgainstApi(page, channel.id);
    expect(afterTake.nowAndNext.event.eventId).toBe(hard1);
    expect(afterTake.shown).toBeGreaterThanOrEqual(afterTake.earliest - 2 * FRAME_MS);
    expect(afterTake.shown).toBeLessThanOrEqual(afterTake.latest + 2 * FRAME_MS);

    // What aired, from the as-run (as the channel records it: a frame late), beside the plan.
    const hard1Start = day.events[0].plannedStart as string;
    await server.services.db.asRunEntry.create({
      data: {
        channelId: channel.id,
        assetId: opener.id,
        clipName: 'opener.mxf',
        startedAt: new Date(Date.parse(hard1Start) + FRAME_MS),
        status: 'PLAYED',
      },
    });
    // An entry naming its schedule event (as the schedule's runner records them) is that event's
    // actual start, whatever its clip: the next event aired two frames late.
    const follow1Start = day.events[1].plannedStart as string;
    await server.services.db.asRunEntry.create({
      data: {
        channelId: channel.id,
        assetId: news.id,
        clipName: 'news.mxf',
        startedAt: new Date(Date.parse(follow1Start) + 2 * FRAME_MS),
        status: 'PLAYED',
        scheduleEventId: follow1,
        plannedStartAt: new Date(follow1Start),
        plannedEndAt: new Date(day.events[1].plannedEnd),
      },
    });
    // An edit through the API shows without a reload: the second HARD event two minutes later.
    const movedAt = new Date(Date.parse(hard2At) + 120_000).toISOString();
    await gql(
      op,
      `mutation($id: ID!, $i: UpdateScheduleEventInput!) { updateScheduleEvent(id: $id, input: $i) { version } }`,
      {
        id: hard2,
        i: { at: movedAt },
      },
    );
    await expect.poll(() => field(eventRow(page, hard2), 'planned-start').textContent()).toBe(wallClock(movedAt));
    await expect.poll(() => field(view, 'next-hard-at').textContent()).toBe(wallClock(movedAt));
    const actual = (await field(eventRow(page, hard1), 'actual-start').textContent()) ?? '';
    expect(actual).toContain(wallClock(new Date(Date.parse(hard1Start) + FRAME_MS).toISOString()));
    expect(actual).toContain('+00:00:00:01');
    const named = (await field(eventRow(page, follow1), 'actual-start').textContent()) ?? '';
    expect(named).toContain(wallClock(new Date(Date.parse(follow1Start) + 2 * FRAME_MS).toISOString()));
    expect(named).toContain('+00:00:00:02');
    const moved = await countdownAgainstApi(page, channel.id);
    expect(moved.nowAndNext.nextHardEvent.time).toBe(movedAt);
    expect(moved.shown).toBeGreaterThanOrEqual(moved.earliest - 2 * FRAME_MS);
    expect(moved.shown).toBeLessThanOrEqual(moved.latest + 2 * FRAME_MS);

    // Another day picked, and back to today.
    await page.getByRole('button', { name: 'Next day' }).click();
    await expect.poll(() => page.getByLabel('Broadcast day').inputValue()).toBe(addDays(date, 1));
    await expect.poll(() => view.locator('tr[data-row="event"]').count()).toBe(0);
    expect(await view.locator('tr[data-row="gap"]').count()).toBe(1);
    await page.getByRole('button', { name: 'Today' }).click();
    await expect.poll(() => view.locator('tr[data-row="event"]').count()).toBe(5);
    expect(await page.getByLabel('Broadcast day').inputValue()).toBe(date);

    // The WebSocket cut while an event is added through the API: back, the page reads the day again.
    cut = true;
    for (const ws of sockets.splice(0)) {
      await ws.page.close({ code: 1012, reason: 'cut by the test' });
      await ws.server.close();
    }
    await page.getByRole('alert').getByText('Connection to onair lost').waitFor({ timeout: 2_000 });
    expect(await field(view, 'next-hard').textContent()).toBe('--:--:--:--');
    const added = await add({ trigger: 'FOLLOW', assetId: promo.id });
    cut = false;
    await page.getByText('Connection to onair lost').waitFor({ state: 'detached', timeout: 10_000 });
    await expect.poll(() => eventRow(page, added).count(), { timeout: 5_000 }).toBe(1);
    expect(await field(eventRow(page, added), 'clip').textContent()).toContain('promo.mxf');

    // A viewer has no control on the page.
    expect(await view.getByRole('button', { name: /take/i }).count()).toBe(0);
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(tab.pageErrors).toEqual([]);
    expect(tab.blocked).toEqual([]);
    await page.context().close();
  }, 180_000);
});

describe('the day view against the as-run', () => {
  it('reads the day again, once, when an as-run entry tells of an event the plan shows otherwise (a MANUAL event passed)', async () => {
    const channel = await insertChannel(server.services, cast.home.id, { name: 'Passed', videoFormat: '1080i5000' });
    const [ident, prog, opener] = await Promise.all([
      asset('ident.mxf', 2_000),
      asset('prog.mxf', 20_000),
      asset('hard.mxf', 20_000),
    ]);
    const op = cast.operator.token;
    const dayStart = new Date(Date.now() - 2 * 3_600_000).toISOString().slice(11, 16);
    await gql(
      op,
      `mutation($c: ID!, $i: UpdateScheduleInput!) { updateSchedule(channelId: $c, input: $i) { version } }`,
      {
        c: channel.id,
        i: { timeZone: 'UTC', dayStart },
      },
    );
    // A short HARD event, a MANUAL event after it that nobody takes, then a HARD event a few seconds
    // away, which passes it.
    const openAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 10_000).toISOString();
    const hardAt = new Date(Date.parse(openAt) + 20_000).toISOString();
    const add = async (input: Record<string, unknown>) =>
      (await gql(op, ADD, { input: { channelId: channel.id, ...input } })).addScheduleEvent.eventId as string;
    await add({ trigger: 'HARD', at: openAt, assetId: ident.id });
    const manual = await add({ trigger: 'MANUAL', assetId: prog.id });
    const hard = await add({ trigger: 'HARD', at: hardAt, assetId: opener.id });

    const page = await openConsole(browser, origin, cast.viewer.token, tab, {
      path: `channels/${channel.id}/schedule`,
    });
    const dayReads: string[] = [];
    page.on('request', (req) => {
      if (req.postData()?.includes('query ScheduleDayView')) dayReads.push(req.url());
    });
    await expect.poll(() => field(eventRow(page, manual), 'status').textContent()).toContain('HOLDING');

    // The HARD event's time comes (the view reads now and next: it is on air) and the sidecar's
    // as-run arrives: the HARD event aired, the MANUAL event it passed as a SKIPPED row.
    await expect
      .poll(() => eventRow(page, hard).getAttribute('aria-current'), { timeout: 30_000, interval: 200 })
      .toBe('true');
    const readsBefore = dayReads.length;
    const base = { channelId: channel.id, playlistId: null, itemId: null, scheduleVersion: null, fills: null };
    const rows = [
      { eventId: manual, assetId: prog.id, clipName: 'prog.mxf', status: 'SKIPPED' as const, ended: true },
      { eventId: hard, assetId: opener.id, clipName: 'hard.mxf', status: 'PLAYED' as const, ended: false },
    ];
    for (const row of rows) {
      const entry = await server.services.db.asRunEntry.create({
        data: {
          channelId: channel.id,
          assetId: row.assetId,
          clipName: row.clipName,
          startedAt: new Date(hardAt),
          endedAt: row.ended ? new Date(hardAt) : null,
          durationMs: row.ended ? 0 : null,
          status: row.status,
          scheduleEventId: row.eventId,
          plannedStartAt: new Date(hardAt),
          plannedEndAt: new Date(Date.parse(hardAt) + (row.ended ? 0 : 20_000)),
        },
      });
      const message = {
        ...base,
        id: entry.id,
        assetId: row.assetId,
        clipName: row.clipName,
        startedAt: hardAt,
        endedAt: row.ended ? hardAt : null,
        durationMs: entry.durationMs,
        status: row.status,
        scheduleEventId: row.eventId,
        plannedStartAt: hardAt,
        plannedEndAt: entry.plannedEndAt?.toISOString() ?? null,
      };
      // Published as the workers do (an entry shows when it starts, and again when it ends).
      for (let i = 0; i < 2; i++) server.services.pubsub.publish('asRun', { projectId: cast.home.id, entry: message });
    }

    // The plan read again shows the MANUAL event SKIPPED (it did not air), from one read of the day.
    await expect
      .poll(() => field(eventRow(page, manual), 'status').textContent(), { timeout: 5_000 })
      .toContain('SKIPPED');
    expect(await field(eventRow(page, manual), 'actual-start').textContent()).toContain('did not air');
    const { day } = (
      await gql(cast.viewer.token, DAY, { id: channel.id, date: await page.getByLabel('Broadcast day').inputValue() })
    ).channel.schedule;
    expect(day.events.find((e: { eventId: string }) => e.eventId === manual).status).toBe('SKIPPED');
    // Settled: nothing more is read for entries that now agree with the plan.
    await page.waitForTimeout(1_000);
    expect(dayReads.length - readsBefore).toBe(1);
    expect(tab.pageErrors).toEqual([]);
    await page.context().close();
  }, 90_000);
});
