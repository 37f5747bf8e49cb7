import path from 'node:path';
import type { Browser, Locator, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceAlarms, raiseAlarm } from '../../src/domain/channels/alarms.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { testPort } from '../helpers/fixtures.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { countdownMs, useConsoleServer } from './console-browser.ts';

// The operator console in Debian's chromium (scripts/browser.sh) against a real onair: the
// console built as `npm run build` builds it, a channel played by a real sidecar to an SRT
// receiver, and every request off this machine refused (facilities run air-gapped).
// ONAIR_SCREENSHOTS=1 writes the README's picture of the wall.
const SCREENSHOT = process.env.ONAIR_SCREENSHOTS === '1' ? path.resolve('docs/console-wall.png') : null;

const { server, cast, console: onair } = useConsoleServer({ 'opener.mp4': 8, 'news.mp4': 8 });

const SRT_PORT = testPort();
let workers: Workers;
let receiver: { close(): void } | undefined;
let browser: Browser;
let origin: string;
let channelId: string;
let alarmChannelId: string;
let playlistId: string;
/** Requests the pages made off this machine (all refused), and errors thrown in them. */
const blocked: string[] = [];
const pageErrors: string[] = [];

async function gql(token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await server.gql(token, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data;
}

const ENGINE = `query($id: ID!) { channel(id: $id) { engine { state current { clipName positionMs durationMs } } } }`;

beforeAll(async () => {
  origin = onair.origin;
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
  const create = `mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`;
  channelId = (
    await gql(cast.editor.token, create, {
      i: {
        name: 'Wall 1',
        projectId: cast.home.id,
        output: { srt: { url: `srt://127.0.0.1:${SRT_PORT}` } },
        videoFormat: '720p5000',
      },
    })
  ).createChannel.id;
  alarmChannelId = (
    await gql(cast.editor.token, create, {
      i: { name: 'Wall 2', projectId: cast.home.id, output: { ndi: { name: 'wall-2' } }, videoFormat: '1080i5000' },
    })
  ).createChannel.id;
  await gql(cast.admin.token, create, {
    i: { name: 'Other 1', projectId: cast.other.id, output: { ndi: { name: 'other-1' } } },
  });
  playlistId = (
    await gql(cast.editor.token, `mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, {
      i: { channelId, name: 'Evening' },
    })
  ).createPlaylist.id;
  for (const file of ['opener.mp4', 'news.mp4']) {
    const assetId = (
      await gql(cast.editor.token, `mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }`, {
        i: { projectId: cast.home.id, filename: file, storageKey: `clips/${file}`, durationMs: 8000 },
      })
    ).createAsset.id;
    await gql(cast.editor.token, `mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, {
      i: { playlistId, assetId },
    });
  }
  await until(
    async () =>
      (await server.gql(cast.viewer.token, `{ playlist(id: "${playlistId}") { ready } }`)).data?.playlist.ready,
    'staging',
  );
  browser = onair.browser;
}, 90_000);

afterAll(async () => {
  if (channelId) await server.gql(cast.admin.token, `mutation { stopChannel(id: "${channelId}") { status } }`);
  receiver?.close();
  await workers?.close();
});

/**
 * A fresh tab (its own sessionStorage) on onair's / that follows the link to the console and
 * signs in; requests leaving this machine are refused. `onSocket` sees each WebSocket it opens.
 */
async function signIn(token: string, onSocket?: (ws: WebSocketRoute) => void): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 640 } });
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  if (onSocket) await page.routeWebSocket(/\/graphql$/, onSocket);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${origin}/`);
  await page.getByRole('link', { name: 'Operator console' }).click();
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

const tile = (page: Page, name: string) => page.getByRole('article', { name: `Channel ${name}` });
const field = (t: Locator, name: string) => t.locator(`[data-field="${name}"]`);

describe('the operator console', () => {
  it('shows an operator the wall live: start, play, alarms, skip, and a WebSocket cut and restored', async () => {
    const sockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
    let cut = false;
    const page = await signIn(cast.operator.token, (ws) => {
      if (cut) return void ws.close({ code: 1012, reason: 'cut by the test' });
      sockets.push({ page: ws, server: ws.connectToServer() });
    });
    const wall1 = tile(page, 'Wall 1');
    await expect.poll(() => field(wall1, 'status').textContent()).toBe('STOPPED');
    await expect.poll(() => page.getByRole('article').count()).toBe(2);
    expect(await tile(page, 'Other 1').count()).toBe(0);

    await gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`);
    await expect.poll(() => field(wall1, 'status').textContent(), { timeout: 20_000 }).toBe('RUNNING');
    await expect.poll(() => field(wall1, 'state').textContent(), { timeout: 10_000 }).toBe('IDLE');

    await gql(cast.operator.token, `mutation($c: ID!, $p: ID!) { play(channelId: $c, playlistId: $p) { state } }`, {
      c: channelId,
      p: playlistId,
    });
    await expect.poll(() => field(wall1, 'current').textContent(), { timeout: 10_000 }).toBe('opener.mp4');
    expect(await field(wall1, 'state').textContent()).toBe('PLAYING');
    expect(await field(wall1, 'next').textContent()).toBe('news.mp4');

    // The countdown moves with the animation frames (at 50 frames a second, most of them show a
    // new value), never backwards, and agrees with the sidecar's position.
    const shown = await page.evaluate(
      () =>
        new Promise<string[]>((resolve) => {
          const seen: string[] = [];
          const started = performance.now();
          const read = (now: number) => {
            seen.push(document.querySelector('[data-field="remaining"]')!.textContent!);
            if (now - started < 500) requestAnimationFrame(read);
            else resolve(seen);
          };
          requestAnimationFrame(read);
        }),
    );
    const values = shown.map((text) => countdownMs(text));
    console.log(`countdown samples: ${shown.join(' ')}`);
    expect(values.length).toBeGreaterThanOrEqual(3);
    expect(new Set(values).size).toBeGreaterThanOrEqual(values.length / 2);
    expect(values.every((v, i) => i === 0 || v <= values[i - 1])).toBe(true);
    const before = countdownMs((await field(wall1, 'remaining').textContent())!);
    const { current } = (await gql(cast.viewer.token, ENGINE, { id: channelId })).channel.engine;
    const after = countdownMs((await field(wall1, 'remaining').textContent())!);
    const sidecar = current.durationMs - current.positionMs;
    console.log(`countdown: the page showed ${before} then ${after} ms left, the sidecar said ${sidecar} in between`);
    expect(sidecar).toBeGreaterThan(after - 300);
    expect(sidecar).toBeLessThan(before + 300);

    // An alarm turns its channel's tile red at once.
    const wall2 = tile(page, 'Wall 2');
    const raised = await raiseAlarm(server.services.db, alarmChannelId, 'OUTPUT_LOST', 'receiver gone');
    announceAlarms(server.services, cast.home.id, [raised!]);
    await wall2.getByRole('alert', { name: 'Alarms' }).getByText('OUTPUT LOST').waitFor({ timeout: 10_000 });
    expect(await wall2.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(58, 13, 13)');
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });

    // Transport from the page.
    await wall1.getByRole('button', { name: 'Skip' }).click();
    await expect.poll(() => field(wall1, 'current').textContent(), { timeout: 10_000 }).toBe('news.mp4');

    // The preview on demand on the tile: hls.js plays the channel's output through onair's preview route.
    await wall1.getByRole('button', { name: 'Show preview' }).click();
    await expect
      .poll(() => wall1.getByLabel('Preview of Wall 1').evaluate((v: HTMLVideoElement) => v.currentTime), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0.5);
    await wall1.getByRole('button', { name: 'Hide preview' }).click();

    // The WebSocket cut: the page says so at once and shows no time as if live; meanwhile the
    // channel is paused through the API. Restored: the page reconnects by itself and shows it.
    cut = true;
    for (const ws of sockets.splice(0)) {
      await ws.page.close({ code: 1012, reason: 'cut by the test' });
      await ws.server.close();
    }
    await page.getByRole('alert').getByText('Connection to onair lost').waitFor({ timeout: 2_000 });
    expect(await field(wall1, 'remaining').textContent()).toBe('--:--:--:--');
    await gql(cast.operator.token, `mutation { pause(channelId: "${channelId}") { state } }`);
    cut = false;
    await page.getByText('Connection to onair lost').waitFor({ state: 'detached', timeout: 10_000 });
    await expect.poll(() => field(wall1, 'state').textContent(), { timeout: 5_000 }).toBe('PAUSED');
    expect(await wall1.getByRole('button', { name: 'Resume' }).isEnabled()).toBe(true);
    expect(countdownMs((await field(wall1, 'remaining').textContent())!)).toBeGreaterThan(0);

    expect(blocked).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  }, 120_000);

  it('shows a viewer the channels without any transport control', async () => {
    const page = await signIn(cast.viewer.token);
    const wall1 = tile(page, 'Wall 1');
    await expect.poll(() => field(wall1, 'state').textContent(), { timeout: 10_000 }).toMatch(/^(PLAYING|PAUSED)$/);
    expect(await page.getByRole('group', { name: 'Transport' }).count()).toBe(0);
    for (const name of ['Pause', 'Resume', 'Skip']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    expect(await tile(page, 'Wall 2').count()).toBe(1);
    expect(blocked).toEqual([]);
    await page.context().close();
  });

  it("shows a member of another project none of this project's channels", async () => {
    const page = await signIn(cast.outsider.token);
    await tile(page, 'Other 1').waitFor();
    expect(await page.getByRole('article').count()).toBe(1);
    expect(blocked).toEqual([]);
    await page.context().close();
  });

  it('refuses a token that does not sign in, and keeps none', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/console/`);
    await page.getByLabel('API token').fill(cast.revoked.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('This token does not sign in.').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });
});
