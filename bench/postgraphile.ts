// PostGraphile serving the same as_run table: the reference the as-run target is
// measured against ("at least the throughput of PostGraphile"). It is installed
// on first use into bench/.postgraphile (ignored by git), never a dependency of onair.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { post, type Scenario } from './load.ts';

const DIR = path.join(import.meta.dirname, '.postgraphile');
const BIN = path.join(DIR, 'node_modules/.bin/postgraphile');
/** v4: v5 needs Node 22. */
const VERSION = '4.14.1';

/** The same selection as onair's page query, in PostGraphile's naming. */
export const POSTGRAPHILE_PAGE_QUERY = `query AsRunPage($channelId: UUID!, $first: Int, $after: Cursor) {
  allAsRuns(condition: { channelId: $channelId }, orderBy: [STARTED_AT_DESC, ID_DESC], first: $first, after: $after) {
    edges { cursor node { id clipName startedAt endedAt durationMs status playlistId assetId channelByChannelId { id } itemByItemId { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

function install(say: (line: string) => void): void {
  if (existsSync(BIN)) return;
  say(`installing postgraphile@${VERSION} into bench/.postgraphile (first run only)`);
  mkdirSync(DIR, { recursive: true });
  writeFileSync(path.join(DIR, 'package.json'), JSON.stringify({ name: 'onair-bench-postgraphile', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', `postgraphile@${VERSION}`], { cwd: DIR, stdio: 'ignore' });
}

export interface PostGraphile {
  url: string;
  stop(): void;
}

/** Starts PostGraphile (production mode, no query log) on the bench database; resolves when it answers. */
export async function startPostGraphile(databaseUrl: string, port: number, say: (line: string) => void): Promise<PostGraphile> {
  install(say);
  // The Node interface's `nodeId` would collide with the channels.node_id column; onair has no Node interface either.
  const child: ChildProcess = spawn(
    BIN,
    ['-c', databaseUrl, '--schema', 'public', '--host', '127.0.0.1', '--port', String(port), '--disable-query-log',
      '--skip-plugins', 'graphile-build:NodePlugin'],
    { env: { ...process.env, NODE_ENV: 'production' }, stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}/graphql`;
  const agent = new http.Agent({ keepAlive: false });
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const res = await post(agent, url, '', JSON.stringify({ query: '{ __typename }' }));
      if (res.status === 200) return { url, stop: () => child.kill('SIGTERM') };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  throw new Error('PostGraphile did not start within 20 s');
}

/** Page 1 and page 51 on PostGraphile, the cursor of page 50 found by walking like onair's. */
export async function postGraphileScenarios(url: string, channelId: string): Promise<Scenario[]> {
  const agent = new http.Agent({ keepAlive: true });
  let after: string | null = null;
  for (let page = 1; page <= 50; page++) {
    const res = await post(agent, url, '', JSON.stringify({ query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100, after } }));
    if (res.body.errors?.length) throw new Error(`PostGraphile page ${page}: ${res.body.errors[0].message}`);
    after = res.body.data.allAsRuns.pageInfo.endCursor;
  }
  agent.destroy();
  return [
    { name: 'PostGraphile page 1', query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100 } },
    { name: 'PostGraphile page 51', query: POSTGRAPHILE_PAGE_QUERY, variables: { channelId, first: 100, after } },
  ];
}
