import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { gqlRequest } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';

// `onair serve` killed with SIGKILL while a channel is on air (local orchestrator):
// its sidecar keeps playing, the restarted server adopts it, and stopChannel stops
// that very sidecar: no process left, its port free, nothing in the run dir.
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_TOKEN = `admin-token-${Math.random().toString(36).slice(2)}-long-enough`;
const SRT_PORT = testPort();

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let runDir: string;
let volume: string;
let receiver: { close(): void } | undefined;
const servers: ChildProcess[] = [];
let env: Record<string, string>;
let url = '';

/** Whether the process exists and is not a zombie (this machine's init may be slow to reap). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Every live process of this machine whose environment names the channel (its sidecar, its ffmpeg); `sidecars`: the sidecar programs only. */
async function processesOf(channelId: string, sidecars = false): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
    if (!environ.split('\0').includes(`CHANNEL_ID=${channelId}`) || !(await alive(Number(name)))) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (!sidecars || cmdline.includes('src/sidecar/main.ts')) pids.push(Number(name));
  }
  return pids;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

async function startServer(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  servers.push(child);
  await until(
    async () => (await fetch(`${url.replace('/graphql', '')}/readyz`).catch(() => null))?.status === 200 || null,
    'serve to answer /readyz',
    60_000,
    200,
  );
  return child;
}

const gql = (query: string) => gqlRequest(url, ADMIN_TOKEN, query);

beforeAll(async () => {
  database = await createTestDatabase();
  runDir = await mkdtemp(path.join(tmpdir(), 'onair-run-'));
  volume = await mkdtemp(path.join(tmpdir(), 'onair-volume-'));
  const port = testPort();
  url = `http://127.0.0.1:${port}/graphql`;
  env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    QUEUE_PREFIX: `onair-test-kill-${Math.random().toString(36).slice(2)}`,
    PORT: String(port),
    HOST: '127.0.0.1',
    ONAIR_ADMIN_TOKEN: ADMIN_TOKEN,
    ORCHESTRATOR: 'local',
    SIDECAR_RUN_DIR: runDir,
    // The test's SRT receiver listens on this machine.
    OUTPUT_ALLOW_PRIVATE: 'true',
    MEDIA_VOLUME_DIR: volume,
    SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
    SIDECAR_PORT_COUNT: '20',
    CONTROL_TICK_MS: '1000',
    HEARTBEAT_TIMEOUT_MS: '6000',
    RECONCILE_INTERVAL_MS: '2000',
  };
  receiver = srtReceiver(SRT_PORT);
}, 60_000);

afterAll(async () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  receiver?.close();
  await database?.drop();
  await rm(runDir, { recursive: true, force: true });
  await rm(volume, { recursive: true, force: true });
});

describe('a control plane killed while on air', () => {
  it('leaves its sidecar playing; the restarted one adopts it, and stopChannel stops that sidecar and frees its port', async () => {
    const first = await startServer();
    const created = await gql(
      `mutation { createChannel(input: { name: "kill", output: { srt: { url: "srt://127.0.0.1:${SRT_PORT}" } }, videoFormat: "576p2500" }) { id } }`,
    );
    expect(created.errors).toBeUndefined();
    const channelId = created.data.createChannel.id as string;
    const started = await gql(`mutation { startChannel(id: "${channelId}") { status } }`);
    expect(started.errors).toBeUndefined();
    expect(started.data.startChannel.status).toBe('RUNNING');
    const [sidecar] = await processesOf(channelId, true);
    expect(sidecar).toBeGreaterThan(0);
    const pidFile = JSON.parse(await readFile(path.join(runDir, env.QUEUE_PREFIX, `${channelId}.json`), 'utf8')) as {
      pid: number;
      port: number;
    };
    expect(pidFile.pid).toBe(sidecar);

    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    // On air stays on air: the sidecar outlives the control plane that spawned it.
    expect(await alive(sidecar)).toBe(true);
    expect(await portFree(pidFile.port)).toBe(false);

    const restartedAt = Date.now();
    await startServer();
    // Adopted: its engine is read again, and it is not replaced by a failover.
    const engine = await until(
      async () => {
        const res = await gql(`{ channel(id: "${channelId}") { status engine { reachable state } } }`);
        return res.data?.channel?.engine?.reachable ? res.data.channel : null;
      },
      'the adopted sidecar answering',
      30_000,
      200,
    );
    console.log(
      `api-kill: the adopted sidecar answered through the restarted API ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart began`,
    );
    expect(engine.status).toBe('RUNNING');
    // Two reconciliation rounds later it is still the same sidecar, neither an orphan removed nor failed over.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(await processesOf(channelId, true)).toEqual([sidecar]);

    const stopped = await gql(`mutation { stopChannel(id: "${channelId}") { status } }`);
    expect(stopped.errors).toBeUndefined();
    expect(stopped.data.stopChannel.status).toBe('STOPPED');
    expect(await alive(sidecar)).toBe(false);
    await until(
      async () => (await processesOf(channelId)).length === 0 || null,
      "the sidecar's engine to end",
      10_000,
      200,
    );
    expect(await portFree(pidFile.port)).toBe(true);
    expect((await readdir(path.join(runDir, env.QUEUE_PREFIX))).filter((f) => f.endsWith('.json'))).toEqual([]);

    // The next start is on air again, on the lowest free port: the one the old sidecar held.
    const again = await gql(`mutation { startChannel(id: "${channelId}") { status } }`);
    expect(again.data?.startChannel.status).toBe('RUNNING');
    expect((await processesOf(channelId, true)).length).toBe(1);
    expect((await gql(`mutation { stopChannel(id: "${channelId}") { status } }`)).data.stopChannel.status).toBe(
      'STOPPED',
    );
    await until(
      async () => (await processesOf(channelId)).length === 0 || null,
      'nothing of the channel left',
      10_000,
      200,
    );
  }, 240_000);
});
