import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerOrchestrator } from '../../src/services/orchestrator/docker.ts';
import { OrchestratorError, type SidecarSpec } from '../../src/services/orchestrator/orchestrator.ts';
import { ensureTestImage, localDocker } from '../helpers/docker-image.ts';

// Real engine, real containers. No engine → these fail (CI starts one with scripts/docker-engine.sh).
const docker = localDocker();
const channels: string[] = [];
let image: string;
let mediaDir: string;
let orchestrator: DockerOrchestrator;

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

async function spec(overrides: Partial<SidecarSpec> = {}): Promise<SidecarSpec> {
  const channelId = overrides.channelId ?? randomUUID();
  channels.push(channelId);
  return {
    channelId,
    secret: randomBytes(24).toString('hex'),
    env: { ENGINE: 'FFMPEG', VIDEO_FORMAT: '1080i5000', MEDIA_DIR: mediaDir },
    port: await freePort(),
    node: null,
    ...overrides,
  };
}

/** Polls until the sidecar answers (a started container needs a moment to bind). */
async function get(url: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      return await res.text();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function exists(nameOrId: string): Promise<boolean> {
  try {
    await docker.getContainer(nameOrId).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

async function failure(p: Promise<unknown>): Promise<OrchestratorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OrchestratorError);
  return err as OrchestratorError;
}

beforeAll(async () => {
  image = await ensureTestImage();
  mediaDir = await mkdtemp(path.join(tmpdir(), 'onair-media-'));
  // The busybox stand-in cannot answer the health challenge (test/e2e/docker-image.test.ts runs the real image).
  orchestrator = new DockerOrchestrator({
    image,
    mediaVolumeDir: mediaDir,
    memoryBytes: 64 * 1024 * 1024,
    stopTimeoutSeconds: 2,
    verifyIdentity: false,
  });
});

afterAll(async () => {
  for (const id of channels)
    await docker
      .getContainer(`onair-${id}`)
      .remove({ force: true })
      .catch(() => {});
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('DockerOrchestrator', () => {
  it("starts a labelled sidecar on host networking that answers on its node's address only, lists it, and stops it idempotently", async () => {
    // All of 127/8 is loopback on Linux: a node addressed 127.0.0.2 is called there, not on 127.0.0.1.
    const s = await spec({ node: { id: 'n1', hostname: '127.0.0.2', dockerHost: 'unix:///var/run/docker.sock' } });
    const handle = await orchestrator.start(s);
    expect(handle.url).toBe(`http://127.0.0.2:${s.port}`);
    expect(await get(`${handle.url}/healthz`)).toBe('ok\n');
    await expect(fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    expect(await get(`${handle.url}/channel`)).toBe(s.channelId);

    const info = await docker.getContainer(handle.ref).inspect();
    expect(info.Name).toBe(`/onair-${s.channelId}`);
    expect(info.Config.Labels).toMatchObject({ 'onair.managed': 'true', 'onair.channel': s.channelId });
    expect(info.Config.Env).toEqual(
      expect.arrayContaining([
        `CHANNEL_ID=${s.channelId}`,
        `PORT=${s.port}`,
        'HOST=127.0.0.2',
        `SIDECAR_SECRET=${s.secret}`,
        'ENGINE=FFMPEG',
        `MEDIA_DIR=${mediaDir}`,
      ]),
    );
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.HostConfig.Binds).toEqual([`${mediaDir}:${mediaDir}`]);
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);

    const listed = await orchestrator.list(s.node);
    expect(listed).toContainEqual({ channelId: s.channelId, ref: handle.ref, running: true });

    await orchestrator.stop(s.channelId, handle.ref, s.node);
    expect(await exists(handle.ref)).toBe(false);
    await expect(fetch(`${handle.url}/healthz`, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    expect((await orchestrator.list(s.node)).map((r) => r.channelId)).not.toContain(s.channelId);

    // Already gone is success, by id or by name.
    await orchestrator.stop(s.channelId, handle.ref, s.node);
    await orchestrator.stop(s.channelId, '', s.node);
  });

  it('replaces a leftover container of the same channel', async () => {
    const s = await spec();
    const leftover = await docker.createContainer({
      name: `onair-${s.channelId}`,
      Image: image,
      Labels: { 'onair.managed': 'true', 'onair.channel': s.channelId },
    });
    const handle = await orchestrator.start(s);
    expect(handle.ref).not.toBe(leftover.id);
    expect(await exists(leftover.id)).toBe(false);
    expect(await get(`${handle.url}/channel`)).toBe(s.channelId);
    expect((await orchestrator.list(null)).filter((r) => r.channelId === s.channelId)).toEqual([
      { channelId: s.channelId, ref: handle.ref, running: true },
    ]);
    await orchestrator.stop(s.channelId, handle.ref, null);
  });

  it('lists a stopped sidecar as not running', async () => {
    const s = await spec();
    const handle = await orchestrator.start(s);
    await docker.getContainer(handle.ref).stop({ t: 1 });
    expect(await orchestrator.list(null)).toContainEqual({ channelId: s.channelId, ref: handle.ref, running: false });
    await orchestrator.stop(s.channelId, handle.ref, null);
    expect(await exists(handle.ref)).toBe(false);
  });

  it('never removes a container of another program that has the same name', async () => {
    const s = await spec();
    const foreign = await docker.createContainer({ name: `onair-${s.channelId}`, Image: image });
    const err = await failure(orchestrator.start(s));
    expect(err.kind).toBe('START_FAILED');
    expect(err.message).toContain(`a container named onair-${s.channelId} exists`);
    expect(await exists(foreign.id)).toBe(true);

    // Nor does stop remove it when asked to by a wrong ref.
    const stopErr = await failure(orchestrator.stop(s.channelId, foreign.id, null));
    expect(stopErr.kind).toBe('OTHER');
    expect(await exists(foreign.id)).toBe(true);
    await foreign.remove({ force: true });
  });

  it('leaves no container behind when the image is missing', async () => {
    const missing = new DockerOrchestrator({ image: 'onair-no-such-image:never' });
    const s = await spec();
    const err = await failure(missing.start(s));
    expect(err.kind).toBe('START_FAILED');
    expect(err.message).toContain('No such image');
    expect(err.message).not.toContain(s.secret);
    expect(await exists(`onair-${s.channelId}`)).toBe(false);
  });

  it('leaves no container behind when the engine refuses to start it (DeckLink device absent)', async () => {
    const s = await spec({ decklinkDevice: 0 });
    const absent = new DockerOrchestrator({
      image,
      verifyIdentity: false,
      decklinkDevicePath: `/dev/onair-no-such-device-${s.port}`,
    });
    const err = await failure(absent.start(s));
    expect(err.kind).toBe('START_FAILED');
    expect(err.message).toContain(`channel ${s.channelId}`);
    expect(err.message).not.toContain(s.secret);
    expect(await exists(`onair-${s.channelId}`)).toBe(false);
  });

  it('reports an engine that cannot be reached as UNREACHABLE, quickly', async () => {
    const node = { id: 'n2', hostname: 'gone', dockerHost: 'tcp://127.0.0.1:1' };
    const began = Date.now();
    expect(await orchestrator.ping(node)).toBe(false);
    expect((await failure(orchestrator.stop(randomUUID(), 'abc', node))).kind).toBe('UNREACHABLE');
    expect((await failure(orchestrator.list(node))).kind).toBe('UNREACHABLE');
    const s = await spec({ node });
    const err = await failure(orchestrator.start(s));
    expect(err.kind).toBe('UNREACHABLE');
    expect(err.message).toContain('node gone (tcp://127.0.0.1:1) cannot be reached');
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(await orchestrator.ping(null)).toBe(true);
  });

  it('does not take a bare 404 from something that is not Docker for "already gone"', async () => {
    const notDocker = createHttpServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => notDocker.listen(0, '127.0.0.1', r));
    const { port } = notDocker.address() as { port: number };
    const node = { id: 'n3', hostname: 'proxy', dockerHost: `tcp://127.0.0.1:${port}` };
    try {
      const err = await failure(orchestrator.stop(randomUUID(), 'abc', node));
      expect(err.kind).toBe('UNREACHABLE');
      expect(err.message).toContain('not a Docker engine');
      expect(await orchestrator.ping(node)).toBe(false);
    } finally {
      notDocker.close();
    }
  });

  it('rejects a channel id that cannot name a container', async () => {
    const s = await spec({ channelId: '../etc' });
    expect((await failure(orchestrator.start(s))).kind).toBe('START_FAILED');
  });
});

/**
 * A TLS-protected engine on tcp:// as production nodes expose theirs: a TLS
 * server requiring client certificates, relaying to the local engine's socket.
 */
describe('DockerOrchestrator over tcp:// with TLS', () => {
  const run = promisify(execFile);
  let dir: string;
  let relay: ReturnType<typeof createTlsServer>;
  let node: { id: string; hostname: string; dockerHost: string };

  async function sign(name: string, ext: string): Promise<void> {
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/${name}.key`,
      '-out',
      `${dir}/${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ]);
    await writeFile(`${dir}/${name}.ext`, ext);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      `${dir}/${name}.csr`,
      '-CA',
      `${dir}/ca.pem`,
      '-CAkey',
      `${dir}/ca.key`,
      '-CAcreateserial',
      '-out',
      `${dir}/${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${dir}/${name}.ext`,
    ]);
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'onair-tls-'));
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/ca.key`,
      '-out',
      `${dir}/ca.pem`,
      '-days',
      '1',
      '-subj',
      '/CN=onair-test-ca',
    ]);
    await sign('server', 'subjectAltName=IP:127.0.0.1\n');
    await sign('client', 'extendedKeyUsage=clientAuth\n');
    const [key, cert, ca] = await Promise.all(
      ['server.key', 'server.pem', 'ca.pem'].map((f) => readFile(`${dir}/${f}`)),
    );
    relay = createTlsServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, (tlsSocket) => {
      const engine = connect('/var/run/docker.sock');
      tlsSocket.pipe(engine).pipe(tlsSocket);
      tlsSocket.on('error', () => engine.destroy());
      engine.on('error', () => tlsSocket.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const { port } = relay.address() as { port: number };
    node = { id: 'n-tls', hostname: '127.0.0.1', dockerHost: `tcp://127.0.0.1:${port}` };
  });

  afterAll(async () => {
    relay?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts, lists and stops a sidecar with TLS material given as paths or contents', async () => {
    const o = new DockerOrchestrator({
      image,
      verifyIdentity: false,
      tlsCa: `${dir}/ca.pem`,
      tlsCert: await readFile(`${dir}/client.pem`, 'utf8'),
      tlsKey: `${dir}/client.key`,
      stopTimeoutSeconds: 2,
    });
    expect(await o.ping(node)).toBe(true);
    const s = await spec({ node });
    const handle = await o.start(s);
    // A remote node's sidecar listens on the node's address, where the control plane calls it.
    expect(handle.url).toBe(`http://127.0.0.1:${s.port}`);
    expect((await docker.getContainer(handle.ref).inspect()).Config.Env).toContain('HOST=127.0.0.1');
    expect(await get(`${handle.url}/channel`)).toBe(s.channelId);
    expect(await o.list(node)).toContainEqual({ channelId: s.channelId, ref: handle.ref, running: true });
    await o.stop(s.channelId, handle.ref, node);
    expect(await exists(handle.ref)).toBe(false);
  });

  it('counts an engine that refuses our TLS client as unreachable', async () => {
    const noCert = new DockerOrchestrator({ image, tlsCa: `${dir}/ca.pem` });
    expect(await noCert.ping(node)).toBe(false);
    expect((await failure(noCert.stop(randomUUID(), 'abc', node))).kind).toBe('UNREACHABLE');
    const missing = new DockerOrchestrator({ image, tlsCa: `${dir}/no-such-ca.pem` });
    expect((await failure(missing.list(node))).message).toContain('no-such-ca.pem does not exist');
  });
});
