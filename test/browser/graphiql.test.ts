import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Needs Debian's chromium (scripts/browser.sh installs it).
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

let server: TestServer;
let browser: Browser | undefined;

beforeAll(async () => {
  server = await startTestServer({ GRAPHIQL: 'true' });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('GraphiQL', () => {
  it('renders its editor with every request off this machine blocked (an air-gapped facility)', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const blocked: string[] = [];
    const served: string[] = [];
    // Only this machine answers: anything else (a CDN, fonts) fails as it would offline.
    await page.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (
        ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) ||
        url.protocol === 'blob:' ||
        url.protocol === 'data:'
      ) {
        served.push(`${route.request().method()} ${url.pathname}`);
        return route.continue();
      }
      blocked.push(url.href);
      return route.abort('internetdisconnected');
    });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));

    const response = await page.goto(server.url, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    // The query editor (Monaco) is on screen with GraphiQL's default query in it.
    const editor = page.locator('.graphiql-query-editor .monaco-editor');
    await editor.waitFor({ state: 'visible', timeout: 30_000 }).catch((err: Error) => {
      throw new Error(`${err.message} (blocked: ${JSON.stringify(blocked)}; page errors: ${JSON.stringify(errors)})`);
    });
    await expect.poll(() => editor.textContent(), { timeout: 10_000 }).toMatch(/query|#/);
    await expect.poll(() => page.getByText('Loading…').count()).toBe(0);
    // It asked the server for the schema (introspection), over this machine only.
    await expect.poll(() => served.filter((r) => r === 'POST /graphql').length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(blocked).toEqual([]);
  }, 90_000);
});
