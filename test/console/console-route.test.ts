import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The console's files as `npm run build` lays them out: index.html and hashed assets/.
let dir: string;
let server: TestServer;
let origin: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'onair-console-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>console</title>');
  await writeFile(path.join(dir, 'assets/index-abc123.js'), 'console.log(1)');
  await writeFile(path.join(dir, 'assets/index-abc123.css'), 'body{}');
  await writeFile(path.join(dir, 'assets/notes.exe'), 'MZ');
  server = await startTestServer({ CONSOLE_DIR: dir });
  origin = server.url.replace('/graphql', '');
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the console route', () => {
  it('links the console from /', async () => {
    const res = await fetch(`${origin}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('href="/console/"');
  });

  it('serves index.html fresh, hashed assets immutable, each with its content type', async () => {
    const redirect = await fetch(`${origin}/console`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/console/']);
    const index = await fetch(`${origin}/console/`);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(await index.text()).toContain('<title>console</title>');
    const js = await fetch(`${origin}/console/assets/index-abc123.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const css = await fetch(`${origin}/console/assets/index-abc123.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it("answers the app's routes with index.html, and nothing outside its files", async () => {
    const route = await fetch(`${origin}/console/channels/some-channel`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('<title>console</title>');
    for (const p of ['/console/assets/missing-1.js', '/console/assets/notes.exe', '/console/%2e%2e/package.json']) {
      expect((await fetch(`${origin}${p}`)).status, p).toBe(404);
    }
    expect((await fetch(`${origin}/console/`, { method: 'POST', body: 'x' })).status).toBe(405);
  });
});
