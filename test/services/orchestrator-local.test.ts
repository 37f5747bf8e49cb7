import { randomBytes, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { sidecarInheritedEnv } from '../../src/config.ts';
import { DockerOrchestrator } from '../../src/services/orchestrator/docker.ts';
import { createOrchestrator } from '../../src/services/orchestrator/index.ts';
import { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import { OrchestratorError, type SidecarSpec } from '../../src/services/orchestrator/orchestrator.ts';
import { STANDIN_HEALTH } from '../helpers/standin-sidecar.ts';

// Stand-in sidecars: tiny node programs proving themselves on /healthz on $HOST:$PORT.
const SERVE = `
  const http = require('node:http');
  ${STANDIN_HEALTH}
  listen(http.createServer((req, res) => {
    if (health(req, res)) return;
    if (req.url === '/channel') return res.end(process.env.CHANNEL_ID);
    if (req.url === '/has-secret') return res.end(String(process.env.SIDECAR_SECRET?.length ?? 0));
    if (req.url === '/env-names') return res.end(Object.keys(process.env).sort().join(','));
    res.writeHead(404).end();
  }));
`;
const STUBBORN = `process.on('SIGTERM', () => {});\n${SERVE}`;
const CRASH = `console.error('cannot open output for ' + process.env.SIDECAR_SECRET); process.exit(4);`;
const DIE_SOON = `setTimeout(() => process.exit(1), 300);\n${SERVE}`;

const orchestrators: LocalOrchestrator[] = [];
function local(script: string, extra: ConstructorParameters<typeof LocalOrchestrator>[0] = {}): LocalOrchestrator {
  // What onair's configuration hands down of this process's environment (loadConfig does the same).
  const o = new LocalOrchestrator({
    command: [process.execPath, '-e', script],
    healthPath: '/healthz',
    output: 'ignore',
    inheritedEnv: sidecarInheritedEnv(),
    ...extra,
  });
  orchestrators.push(o);
  return o;
}

process.env.ONAIR_TEST_LEAK = 'control-plane-only';

afterAll(async () => {
  delete process.env.ONAIR_TEST_LEAK;
  await Promise.all(orchestrators.map((o) => o.close()));
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function spec(): Promise<SidecarSpec> {
  return {
    channelId: randomUUID(),
    secret: randomBytes(24).toString('hex'),
    env: { ENGINE: 'FFMPEG' },
    port: await freePort(),
    node: null,
  };
}

/** Whether the process exists and is not a zombie (this machine's init may be slow to reap orphans). */
function alive(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${Number(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function text(url: string): Promise<string> {
  return (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
}

async function failure(p: Promise<unknown>): Promise<OrchestratorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OrchestratorError);
  return err as OrchestratorError;
}

describe('LocalOrchestrator', () => {
  it('starts a sidecar that answers on loopback with its env, lists it, and stops it idempotently', async () => {
    const o = local(SERVE);
    const s = await spec();
    const handle = await o.start(s);
    expect(handle.url).toBe(`http://127.0.0.1:${s.port}`);
    expect(await text(`${handle.url}/healthz`)).toBe('ok');
    expect(await text(`${handle.url}/channel`)).toBe(s.channelId);
    expect(await text(`${handle.url}/has-secret`)).toBe(String(s.secret.length));
    // The control plane's own environment (database URL, keys) is not handed down.
    const names = (await text(`${handle.url}/env-names`)).split(',');
    expect(names).toEqual(expect.arrayContaining(['CHANNEL_ID', 'ENGINE', 'HOST', 'PATH', 'PORT', 'SIDECAR_SECRET']));
    expect(names).not.toContain('ONAIR_TEST_LEAK');
    expect(await o.list(null)).toEqual([{ channelId: s.channelId, ref: handle.ref, running: true }]);
    expect(await o.ping(null)).toBe(true);

    await o.stop(s.channelId, handle.ref, null);
    expect(alive(handle.ref)).toBe(false);
    await expect(text(`${handle.url}/healthz`)).rejects.toThrow();
    expect(await o.list(null)).toEqual([]);
    await o.stop(s.channelId, handle.ref, null);
    await o.stop(randomUUID(), '12345', null);
  });

  it('kills a sidecar that ignores SIGTERM after the grace period', async () => {
    const o = local(STUBBORN, { stopTimeoutMs: 300 });
    const s = await spec();
    const handle = await o.start(s);
    const began = Date.now();
    await o.stop(s.channelId, handle.ref, null);
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(alive(handle.ref)).toBe(false);
  });

  it('reports a sidecar that exits at once as START_FAILED, with its stderr and without its secret', async () => {
    const o = local(CRASH);
    const s = await spec();
    const err = await failure(o.start(s));
    expect(err.kind).toBe('START_FAILED');
    expect(err.message).toContain(`the sidecar of channel ${s.channelId} exited during start-up (4)`);
    expect(err.message).toContain('cannot open output for [redacted]');
    expect(err.message).not.toContain(s.secret);
    expect(await o.list(null)).toEqual([]);
  });

  it('reports a program that cannot run, or never answers its health path, as START_FAILED and leaves nothing running', async () => {
    const missing = new LocalOrchestrator({ command: ['/nonexistent/onair-sidecar'] });
    orchestrators.push(missing);
    const err = await failure(missing.start(await spec()));
    expect(err.kind).toBe('START_FAILED');
    expect(err.message).toContain('could not run /nonexistent/onair-sidecar');

    const silent = local('setInterval(() => {}, 1000);', { startupTimeoutMs: 500 });
    const s = await spec();
    const silentErr = await failure(silent.start(s));
    expect(silentErr.message).toContain('did not prove itself on /healthz within 500 ms');
    expect(await silent.list(null)).toEqual([]);
  });

  it("does not take another channel's sidecar on the port for its own", async () => {
    const s = await spec();
    // Another channel's sidecar already holds the port: the new one cannot listen and exits.
    const squatter = (await import('node:http')).createServer((_req, res) =>
      res.end(JSON.stringify({ ok: true, channelId: randomUUID() })),
    );
    await new Promise<void>((resolve) => squatter.listen(s.port, '127.0.0.1', resolve));
    try {
      const o = local(`setTimeout(() => process.exit(1), 1500);`, { startupTimeoutMs: 1000 });
      const err = await failure(o.start({ ...s, env: { ...s.env, HOST: '127.0.0.1' } }));
      expect(err.kind).toBe('START_FAILED');
      expect(err.message).toContain('another program answers on port');
      expect(await o.list(null)).toEqual([]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('never hands anything to a program posing as the sidecar on its port, and reports PORT_IN_USE', async () => {
    const s = await spec();
    // It knows the channel and answers /healthz first, as the sidecar would, but holds no spawn secret.
    const seen: { url: string; authorization?: string }[] = [];
    const impostor = (await import('node:http')).createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      res.end(JSON.stringify({ ok: true, channelId: s.channelId }));
    });
    await new Promise<void>((resolve) => impostor.listen(s.port, '127.0.0.1', resolve));
    try {
      const o = local(SERVE);
      const err = await failure(o.start(s));
      expect(err.kind).toBe('PORT_IN_USE');
      expect(err.message).not.toContain(s.secret);
      expect(await o.list(null)).toEqual([]);
      // Asked only the challenge, never sent the secret.
      expect(seen.every((r) => r.url.startsWith('/healthz?nonce=') && r.authorization === undefined)).toBe(true);
    } finally {
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  it('waits out the grace period without a health path', async () => {
    const o = local(CRASH, { healthPath: null, startupGraceMs: 2000 });
    expect((await failure(o.start(await spec()))).kind).toBe('START_FAILED');
    const ok = local(SERVE, { healthPath: null, startupGraceMs: 200 });
    const s = await spec();
    const handle = await ok.start(s);
    expect(alive(handle.ref)).toBe(true);
    await ok.stop(s.channelId, handle.ref, null);
  });

  it('ends a sidecar stopped while it is still starting', async () => {
    const o = local(SERVE);
    const s = await spec();
    const starting = o.start(s);
    await o.stop(s.channelId, '', null);
    const err = await failure(starting);
    expect(err.kind).toBe('START_FAILED');
    expect(await o.list(null)).toEqual([]);
  });

  it('lists a sidecar that died by itself as not running until it is stopped', async () => {
    const o = local(DIE_SOON);
    const s = await spec();
    const handle = await o.start(s);
    await expect
      .poll(() => o.list(null), { timeout: 3000 })
      .toEqual([{ channelId: s.channelId, ref: handle.ref, running: false }]);
    await o.stop(s.channelId, handle.ref, null);
    expect(await o.list(null)).toEqual([]);
  });

  it('replaces its own sidecar of the same channel, and leaves a newer one alone when stopping an old ref', async () => {
    const o = local(SERVE);
    const s = await spec();
    const first = await o.start(s);
    const second = await o.start(s);
    expect(alive(first.ref)).toBe(false);
    expect(await text(`${second.url}/healthz`)).toBe('ok');
    await o.stop(s.channelId, first.ref, null);
    expect(alive(second.ref)).toBe(true);
    await o.close();
    expect(alive(second.ref)).toBe(false);
    expect(await o.list(null)).toEqual([]);
  });
});

describe('LocalOrchestrator with a run dir', () => {
  it('leaves its sidecars playing when its process dies, and a new one adopts, lists and stops them by verified pid', async () => {
    const runDir = await mkdtemp(path.join(tmpdir(), 'onair-run-'));
    const port = await freePort();
    const channelId = randomUUID();
    // A control plane that dies without an end: no close(), no 'exit' handler (SIGKILL).
    const program = `
      import { LocalOrchestrator } from './src/services/orchestrator/local.ts';
      const o = new LocalOrchestrator({ command: [process.execPath, '-e', ${JSON.stringify(SERVE)}], healthPath: '/healthz', runDir: ${JSON.stringify(runDir)} });
      const h = await o.start({ channelId: '${channelId}', secret: 'x'.repeat(32), env: {}, port: ${port}, node: null });
      process.stdout.write(h.ref);
      process.kill(process.pid, 'SIGKILL');
    `;
    const pid = await new Promise<string>((resolve) => {
      let out = '';
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.once('exit', () => resolve(out));
    });
    expect(pid).toMatch(/^\d+$/);
    try {
      // Still on air after its parent's death.
      await new Promise((r) => setTimeout(r, 300));
      expect(alive(pid)).toBe(true);
      expect(await text(`http://127.0.0.1:${port}/healthz`)).toBe('ok');

      const adopter = local(SERVE, { runDir, stopTimeoutMs: 2000 });
      expect(await adopter.list(null)).toEqual([{ channelId, ref: pid, running: true }]);
      // A ref that is not the pid file's (a newer start) is left alone.
      await adopter.stop(channelId, '1', null);
      expect(alive(pid)).toBe(true);
      await adopter.stop(channelId, pid, null);
      expect(alive(pid)).toBe(false);
      expect(await adopter.list(null)).toEqual([]);
      await expect(text(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      if (alive(pid)) process.kill(Number(pid), 'SIGKILL');
      await rm(runDir, { recursive: true, force: true });
    }
  });

  it('does not take a pid file naming another process for a sidecar', async () => {
    const runDir = await mkdtemp(path.join(tmpdir(), 'onair-run-'));
    const channelId = randomUUID();
    // This test process: alive, but not that channel's sidecar.
    await writeFile(
      path.join(runDir, `${channelId}.json`),
      JSON.stringify({ channelId, pid: process.pid, port: 1, startTicks: '1' }),
    );
    try {
      const o = local(SERVE, { runDir });
      expect(await o.list(null)).toEqual([]);
      await o.stop(channelId, String(process.pid), null);
      expect(alive(String(process.pid))).toBe(true);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  });
});

describe('LocalOrchestrator in a process that exits', () => {
  it('takes its sidecars with it', async () => {
    const port = await freePort();
    const program = `
      import { LocalOrchestrator } from './src/services/orchestrator/local.ts';
      const o = new LocalOrchestrator({ command: [process.execPath, '-e', ${JSON.stringify(SERVE)}], healthPath: '/healthz', output: 'ignore' });
      const h = await o.start({ channelId: 'exit-test', secret: 'x'.repeat(32), env: {}, port: ${port}, node: null });
      process.stdout.write(h.ref);
      process.exit(0);
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', program],
      { cwd: process.cwd() },
    );
    expect(stdout).toMatch(/^\d+$/);
    await expect.poll(() => alive(stdout), { timeout: 2000 }).toBe(false);
  });
});

describe('createOrchestrator', () => {
  it('is local unless Docker is configured', () => {
    expect(createOrchestrator({})).toBeInstanceOf(LocalOrchestrator);
    expect(createOrchestrator({ docker: { image: 'onair-sidecar:1' } })).toBeInstanceOf(DockerOrchestrator);
    expect(() => createOrchestrator({ kind: 'docker' })).toThrow('the Docker orchestrator needs a sidecar image');
  });
});
