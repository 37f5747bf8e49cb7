import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** The operator console's files by extension; anything else is not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

// The console talks to this server only (facilities run air-gapped): no script, style or
// connection elsewhere. Styles may be inline: Svelte sets style attributes for computed colours.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  // hls.js transmuxes the preview in a worker it starts from a blob: URL.
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const LANDING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>onair</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem">
<h1>onair</h1>
<ul>
<li><a href="/console/">Operator console</a>: the channel wall, live</li>
<li><a href="/graphql">GraphQL API</a> (GraphiQL where enabled)</li>
</ul>
</body></html>
`;

// Vite writes content-hashed names under assets/: a new build is new names, so these never change.
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * GET / (a page linking to the console and the API), /console (→ /console/) and
 * /console/* (the console's built files from `dir`; a path without a file
 * extension is one of the single-page app's routes and gets index.html).
 * Returns false for any other path.
 */
export async function handleConsole(req: IncomingMessage, res: ServerResponse, dir: string): Promise<boolean> {
  const pathname = (req.url ?? '/').split('?', 1)[0];
  if (pathname !== '/' && pathname !== '/console' && !pathname.startsWith('/console/')) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed');
    return true;
  }
  if (pathname === '/') {
    res.writeHead(200, { 'content-type': CONTENT_TYPES['.html'], 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : LANDING_PAGE);
    return true;
  }
  if (pathname === '/console') {
    res.writeHead(308, { location: '/console/' }).end();
    return true;
  }
  const file = fileOf(dir, pathname.slice('/console/'.length));
  if (file === null) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    return true;
  }
  await sendFile(req, res, file.path, file.hashed);
  return true;
}

/** The file a path under /console/ names, or index.html for the app's routes; null: not servable. */
function fileOf(dir: string, relative: string): { path: string; hashed: boolean } | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return null;
  }
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.' || s.includes('\\') || s.includes('\0'))) return null;
  const name = segments.at(-1) ?? '';
  if (decoded === '' || !path.extname(name)) return { path: path.join(dir, 'index.html'), hashed: false };
  if (!(path.extname(name) in CONTENT_TYPES)) return null;
  return { path: path.join(dir, ...segments), hashed: segments[0] === 'assets' };
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, hashed: boolean): Promise<void> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) {
    const missingBuild = file.endsWith('index.html');
    res.writeHead(missingBuild ? 503 : 404, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(missingBuild ? 'the operator console is not built: run npm run build' : 'not found');
    return;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[path.extname(file)],
    'content-length': info.size,
    // index.html names the hashed files of the current build: always asked for again.
    'cache-control': hashed ? IMMUTABLE : 'no-cache',
    'last-modified': info.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
    ...(file.endsWith('.html') ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(createReadStream(file), res);
}
