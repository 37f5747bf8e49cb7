import { chromium, type Browser, type Locator, type Page, type WebSocketRoute } from 'playwright-core';

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
