import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSidecarEnv,
  checkSidecarEnv,
  MIN_SIDECAR_SECRET_LENGTH,
  SIDECAR_EXIT,
  sidecarSettingsEnv,
} from '../../src/protocol/sidecar-env.ts';
import { buildSidecarApp, type SidecarApp } from '../../src/sidecar/app.ts';
import { loadSidecarConfig, loadSidecarLogSettings } from '../../src/sidecar/config.ts';
import { challengeSidecar } from '../../src/services/orchestrator/identity.ts';
import { checkSpec, OrchestratorError } from '../../src/services/orchestrator/orchestrator.ts';
import { CHANNEL_ID, SECRET } from './helpers.ts';

const settings = sidecarSettingsEnv({
  engine: 'ffmpeg',
  videoFormat: '576p2500',
  mediaDir: '/tmp',
  output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
  casparcg: { host: '10.0.0.9', port: 5251, channel: 2, layer: 20, setMode: true },
  logLevel: 'warn',
});

let app: SidecarApp;
let base: string;

beforeAll(async () => {
  app = buildSidecarApp(
    loadSidecarConfig(buildSidecarEnv({ channelId: CHANNEL_ID, port: 0, host: '127.0.0.1', secret: SECRET }, settings)),
    { eventsFile: false },
  );
  base = `http://127.0.0.1:${await app.start()}`;
});

afterAll(async () => {
  await app?.stop();
});

describe('one sidecar environment', () => {
  it('is built by the control plane and parsed by the sidecar with the same keys', () => {
    const env = buildSidecarEnv(
      { channelId: CHANNEL_ID, port: 9123, host: '127.0.0.2', secret: SECRET },
      { ...settings, HOST: '0.0.0.0', CHANNEL_ID: 'elsewhere' },
    );
    const config = loadSidecarConfig(env);
    // The identity wins over anything the settings carried.
    expect({ channelId: config.channelId, port: config.port, host: config.host, secret: config.secret }).toEqual({
      channelId: CHANNEL_ID,
      port: 9123,
      host: '127.0.0.2',
      secret: SECRET,
    });
    expect(config.output).toEqual({ type: 'UDP', url: 'udp://127.0.0.1:9' });
    expect(checkSidecarEnv(env).CASPARCG_PORT).toBe(5251);
    // The control plane's log level reaches the sidecar's logger.
    expect(checkSidecarEnv(env).LOG_LEVEL).toBe('warn');
    expect(loadSidecarLogSettings(env)).toEqual({ level: 'warn', channelId: CHANNEL_ID });
  });

  it('has one secret length limit on both sides', () => {
    const short = 'x'.repeat(MIN_SIDECAR_SECRET_LENGTH - 1);
    const env = buildSidecarEnv({ channelId: CHANNEL_ID, port: 9123, host: '127.0.0.1', secret: short }, settings);
    expect(() => loadSidecarConfig(env)).toThrow(
      `SIDECAR_SECRET: must be at least ${MIN_SIDECAR_SECRET_LENGTH} characters`,
    );
    expect(() => checkSidecarEnv(env)).toThrow(
      `SIDECAR_SECRET: must be at least ${MIN_SIDECAR_SECRET_LENGTH} characters`,
    );
    let err: unknown;
    try {
      checkSpec({ channelId: CHANNEL_ID, secret: short, env: settings, port: 9123, node: null });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OrchestratorError);
    expect((err as Error).message).toContain('too short');
  });
});

describe('the health challenge', () => {
  it('is answered with a proof only the holder of the spawn secret makes', async () => {
    expect(await challengeSidecar(base, CHANNEL_ID, SECRET)).toEqual({ kind: 'PROVEN' });
    // A control plane holding another secret, or asking for another channel, gets no proof it accepts.
    expect((await challengeSidecar(base, CHANNEL_ID, randomBytes(24).toString('hex'))).kind).toBe('IMPOSTOR');
    expect((await challengeSidecar(base, crypto.randomUUID(), SECRET)).kind).toBe('IMPOSTOR');
    // Each question has its own nonce: an answer cannot be replayed.
    const a = await (await fetch(`${base}/healthz?nonce=${'a'.repeat(32)}`)).json();
    const b = await (await fetch(`${base}/healthz?nonce=${'b'.repeat(32)}`)).json();
    expect(a.proof).toMatch(/^[0-9a-f]{64}$/);
    expect(a.proof).not.toBe(b.proof);
    const bad = await fetch(`${base}/healthz?nonce=zz`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: 'BAD_REQUEST', field: 'nonce' });
  });

  it('refuses a program on the port that names the channel but cannot prove the secret', async () => {
    const http = (await import('node:http')).createServer((_req, res) =>
      res.end(JSON.stringify({ ok: true, channelId: CHANNEL_ID })),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const verdict = await challengeSidecar(
        `http://127.0.0.1:${(http.address() as { port: number }).port}`,
        CHANNEL_ID,
        SECRET,
      );
      expect(verdict).toEqual({
        kind: 'IMPOSTOR',
        why: 'its /healthz did not prove it holds the secret it was spawned with',
      });
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe('a sidecar whose port is held by another program', () => {
  let holder: Server;
  afterAll(() => new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve())));

  it(`exits with ${SIDECAR_EXIT.portInUse}, so its orchestrator picks another port`, async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    const env = buildSidecarEnv(
      { channelId: CHANNEL_ID, port, host: '127.0.0.1', secret: SECRET },
      { ...settings, MEDIA_DIR: '/tmp' },
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/main.ts'], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', ...env },
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(SIDECAR_EXIT.portInUse);
  });
});

describe('a sidecar started with a bad configuration', () => {
  /** Runs the sidecar program with `env`; its exit code and what it wrote to stderr. */
  async function run(env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/main.ts'], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, stderr };
  }
  const noSecret = () => {
    const env = buildSidecarEnv({ channelId: CHANNEL_ID, port: 0, host: '127.0.0.1', secret: SECRET }, settings);
    delete env.SIDECAR_SECRET;
    return env;
  };

  it('says why at the log level the control plane gave it, and says nothing when silent', async () => {
    const loud = await run(noSecret());
    expect(loud.code).toBe(SIDECAR_EXIT.badConfig);
    expect(loud.stderr).toContain('SIDECAR_SECRET');
    const silent = await run({ ...noSecret(), LOG_LEVEL: 'silent' });
    expect(silent.code).toBe(SIDECAR_EXIT.badConfig);
    expect(silent.stderr).toBe('');
  });

  it('names an unknown LOG_LEVEL', async () => {
    const env = buildSidecarEnv(
      { channelId: CHANNEL_ID, port: 0, host: '127.0.0.1', secret: SECRET },
      { ...settings, LOG_LEVEL: 'loud' },
    );
    const { code, stderr } = await run(env);
    expect(code).toBe(SIDECAR_EXIT.badConfig);
    expect(stderr).toContain('LOG_LEVEL: must be one of');
  });
});
