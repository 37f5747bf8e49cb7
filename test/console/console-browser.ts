import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page, type WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { moveIntoProject } from '../e2e/as-run-helpers.ts';
import { sidecarPortBase } from '../helpers/fixtures.ts';
import { type Cast, type TestServer, useTestServer } from '../helpers/server.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { consoleBuild } from './console-build.ts';

// Debian's chromium (scripts/browser.sh installs it), driven by playwright-core.
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Requests a console tab made off this machine (all refused), and errors thrown in it. */
export interface TabRecord {
  blocked: string[];
  pageErrors: string[];
}

/**
 * A fresh tab (its own sessionStorage) signed in to the console at `path` (under /console/);
 * requests leaving this machine are refused (facilities run air-gapped) and recorded.
 */
export async function openConsole(
  browser: Browser,
  origin: string,
  token: string,
  record: TabRecord,
  options: {
    path?: string;
    viewport?: { width: number; height: number };
    /** Routes the page's WebSocket to onair through the test (to cut it). */
    onSocket?: (ws: WebSocketRoute) => void;
  } = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    record.blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  if (options.onSocket) await page.routeWebSocket(/\/graphql$/, options.onSocket);
  page.on('pageerror', (err) => record.pageErrors.push(err.message));
  await page.goto(`${origin}/console/${options.path ?? ''}`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

export const field = (scope: Locator | Page, name: string) => scope.locator(`[data-field="${name}"]`).first();

/** HH:MM:SS:FF at `fps` frames a second as ms (the start of the frame shown). */
export function countdownMs(text: string, fps = 50): number {
  const [h, m, s, f] = text.split(':').map(Number);
  return ((h * 60 + m) * 60 + s) * 1000 + (f * 1000) / fps;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A file's onair for the console's browser tests: what each of them sets up the same way. */
export interface ConsoleServer {
  /** http://127.0.0.1:<port>, the console at /console/. */
  origin: string;
  browser: Browser;
  /** The local media store (clips/ moved into the home project's folder) and the playout volume; null without clips. */
  media: { store: string; volume: string } | null;
}

/**
 * onair for a file of console browser tests: the console (built once per content, see
 * console-build.ts) served by a real server with its cast, chromium, and with `clips` (name →
 * seconds) a local media store, a volume and a sidecar port range, so channels can run. Filled in
 * by the file's beforeAll hooks, as useTestServer's objects are.
 */
export function useConsoleServer(
  clips: Record<string, number> | null = null,
  env: Record<string, string> = {},
): { server: TestServer; cast: Cast; console: ConsoleServer } {
  const made = {} as ConsoleServer;
  let consoleDir = '';
  beforeAll(async () => {
    const [dir, store, volume] = await Promise.all([
      consoleBuild(),
      clips ? makeMediaDir(clips) : null,
      clips ? mkdtemp(path.join(tmpdir(), 'onair-volume-')) : null,
    ]);
    consoleDir = dir;
    made.media = store && volume ? { store, volume } : null;
  }, 180_000);
  afterAll(async () => {
    const { store, volume } = made.media ?? {};
    await Promise.all([store, volume].filter((d) => d).map((d) => rm(d!, { recursive: true, force: true })));
  });
  const { server, cast } = useTestServer(() => ({
    CONSOLE_DIR: consoleDir,
    ...(made.media && {
      MEDIA_STORE_DIR: made.media.store,
      MEDIA_VOLUME_DIR: made.media.volume,
      SIDECAR_PORT_BASE: String(sidecarPortBase(10)),
      SIDECAR_PORT_COUNT: '10',
    }),
    ...env,
  }));
  beforeAll(async () => {
    made.origin = server.url.replace('/graphql', '');
    if (made.media) await moveIntoProject(made.media.store, cast.home.id);
    made.browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await made.browser?.close();
  });
  return { server, cast, console: made };
}
