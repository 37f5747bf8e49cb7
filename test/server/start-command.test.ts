import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { gqlRequest } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';

// The README's command (`npm start`, which builds dist/ first) and what an operator or a
// service manager does to stop it: SIGTERM to that pid. npm forwards the signal to its
// script's process, which must be the server itself, shutting down gracefully. A channel
// started meanwhile is played by the built sidecar (dist/sidecar.js), as the server is.
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_TOKEN = `admin-token-${Math.random().toString(36).slice(2)}-long-enough`;
const SRT_PORT = testPort();

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let npm: ChildProcess | undefined;
let runDir: string;
let receiver: { close(): void } | undefined;

/** Whether the process exists and is not a zombie. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Every process below `root` (children, grandchildren, ...). */
async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    if (stat) parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) if (parent === pid) found.push(child), walk(child);
  };
  walk(root);
  return found;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

beforeAll(async () => {
  database = await createTestDatabase();
  runDir = await mkdtemp(path.join(tmpdir(), 'onair-run-'));
  receiver = srtReceiver(SRT_PORT);
}, 60_000);

afterAll(async () => {
  // A failed run: everything it started is in its own process group (detached), orphans included.
  if (npm?.pid) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      // no process of the group is left: the test's own expectation
    }
  }
  receiver?.close();
  await database?.drop();
  if (runDir) await rm(runDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('runs the build, server and sidecars, and stops gracefully on SIGTERM to its pid: the server exits, its port closes, no process is left', async () => {
    const port = testPort();
    let output = '';
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      QUEUE_PREFIX: `onair-test-start-${Math.random().toString(36).slice(2)}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      ONAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      SIDECAR_RUN_DIR: runDir,
      SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
      SIDECAR_PORT_COUNT: '20',
      // The test's SRT receiver listens on this machine.
      OUTPUT_ALLOW_PRIVATE: 'true',
    };
    npm = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    npm.stdout!.on('data', (chunk: Buffer) => (output += chunk));
    npm.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm!.once('exit', (code, signal) => resolve({ code, signal })),
    );

    await until(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
      'npm start to serve /readyz',
      90_000,
      200,
    );
    const processes = await descendants(npm.pid!);
    // The server runs the built JavaScript, not TypeScript through tsx.
    const commands = await Promise.all(
      processes.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
    );
    expect(commands.some((c) => c.split('\0').includes('dist/server.js'))).toBe(true);
    expect(commands.some((c) => c.includes('tsx'))).toBe(false);

    // A channel on air: its sidecar is the built one too.
    const gql = (query: string) => gqlRequest(`http://127.0.0.1:${port}/graphql`, ADMIN_TOKEN, query);
    const created = await gql(
      `mutation { createChannel(input: { name: "built", output: { srt: { url: "srt://127.0.0.1:${SRT_PORT}" } }, videoFormat: "576p2500" }) { id } }`,
    );
    expect(created.errors).toBeUndefined();
    const channelId = created.data.createChannel.id as string;
    const began = Date.now();
    const started = await gql(`mutation { startChannel(id: "${channelId}") { status } }`);
    expect(started.errors).toBeUndefined();
    expect(started.data.startChannel.status).toBe('RUNNING');
    console.log(`startChannel answered RUNNING in ${Date.now() - began} ms (server and sidecar from dist/)`);
    const { pid: sidecar } = JSON.parse(
      await readFile(path.join(runDir, env.QUEUE_PREFIX, `${channelId}.json`), 'utf8'),
    ) as { pid: number };
    const sidecarCommand = (await readFile(`/proc/${sidecar}/cmdline`, 'utf8')).split('\0');
    expect(sidecarCommand).toContain(path.join(ROOT, 'dist/sidecar.js'));
    expect(sidecarCommand.join(' ')).not.toContain('tsx');
    expect((await gql(`mutation { stopChannel(id: "${channelId}") { status } }`)).data.stopChannel.status).toBe(
      'STOPPED',
    );
    expect(await alive(sidecar)).toBe(false);

    npm.kill('SIGTERM');
    const exit = await exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    // The server's own graceful shutdown ran (not a process killed mid-way).
    const stopping = output.split('\n').find((line) => line.includes('"msg":"stopping"'));
    expect(stopping, 'the server logs its graceful stop').toBeDefined();
    expect(stopping).toContain('"signal":"SIGTERM"');
    expect(await portFree(port)).toBe(true);
    await until(
      async () => !(await Promise.all(processes.map(alive))).some(Boolean),
      'no process of npm start to be left',
      10_000,
    );
  }, 180_000);
});
