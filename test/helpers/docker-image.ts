import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const run = promisify(execFile);

/** The stand-in sidecar image for orchestrator tests. */
export const TEST_SIDECAR_IMAGE = 'onair-test-sidecar:latest';

/** Bumped whenever the image's content or command changes, so a stale local image is rebuilt. */
const IMAGE_VERSION = '1';
const VERSION_LABEL = 'onair.test-image';

/**
 * Serves HTTP on $HOST:$PORT like a sidecar would: /healthz answers "ok",
 * /channel the CHANNEL_ID the container was given. SIGTERM (forwarded by
 * the container's init) ends it at once, as a well-behaved sidecar does.
 */
const SCRIPT = [
  'mkdir -p /www',
  'echo ok > /www/healthz',
  'printf %s "$CHANNEL_ID" > /www/channel',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell default, expanded by the container's shell
  'busybox httpd -f -p "${HOST:-127.0.0.1}:$PORT" -h /www & pid=$!',
  'trap "kill $pid; exit 0" TERM INT',
  'wait $pid',
].join('\n');

/** Debian's busybox-static (installed by scripts/docker-engine.sh). */
const BUSYBOX = '/bin/busybox';

export function localDocker(): Docker {
  return new Docker({ socketPath: '/var/run/docker.sock' });
}

async function hasCurrentImage(docker: Docker): Promise<boolean> {
  try {
    const info = await docker.getImage(TEST_SIDECAR_IMAGE).inspect();
    return info.Config?.Labels?.[VERSION_LABEL] === IMAGE_VERSION;
  } catch {
    return false;
  }
}

/**
 * Builds the test image once per machine: a root file system holding only
 * busybox-static, `docker import`ed (no registry can be reached here).
 * Throws (the Docker tests then fail, not skip) when no engine answers.
 */
export async function ensureTestImage(): Promise<string> {
  const docker = localDocker();
  await docker.ping().catch((err: unknown) => {
    throw new Error(`no Docker engine answers on /var/run/docker.sock (run scripts/docker-engine.sh): ${String(err)}`);
  });
  if (await hasCurrentImage(docker)) return TEST_SIDECAR_IMAGE;

  const dir = await mkdtemp(path.join(tmpdir(), 'onair-rootfs-'));
  try {
    const root = path.join(dir, 'rootfs');
    await mkdir(path.join(root, 'bin'), { recursive: true });
    await mkdir(path.join(root, 'tmp'), { recursive: true });
    await copyFile(BUSYBOX, path.join(root, 'bin', 'busybox'));
    await symlink('busybox', path.join(root, 'bin', 'sh'));
    const tarball = path.join(dir, 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tarball, '.']);
    const cmd = JSON.stringify(['/bin/busybox', 'sh', '-c', SCRIPT]);
    await run('docker', [
      'import',
      '--change',
      `CMD ${cmd}`,
      '--change',
      `LABEL ${VERSION_LABEL}=${IMAGE_VERSION}`,
      '--change',
      'ENV PATH=/bin',
      tarball,
      TEST_SIDECAR_IMAGE,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (!(await hasCurrentImage(docker))) throw new Error(`docker import did not produce ${TEST_SIDECAR_IMAGE}`);
  return TEST_SIDECAR_IMAGE;
}

/**
 * onair's production image, built from the project's Dockerfile by
 * scripts/docker-image.sh unless the image of this source tree exists
 * (`.ci/run` builds it beforehand). Resolves to its tag and size in bytes.
 */
export async function onairImage(): Promise<{ image: string; size: number }> {
  const { stdout } = await run('bash', ['scripts/docker-image.sh'], { maxBuffer: 64 * 1024 * 1024 });
  const [image, size] = stdout.trim().split('\n').pop()!.split(' ');
  return { image, size: Number(size) };
}

/**
 * The local Docker engine reached over TCP on another loopback address (all of
 * 127/8 is loopback on Linux), as a remote node's engine would be: a relay to
 * /var/run/docker.sock listening on `host`. `cut()` closes it and every
 * connection through it, as a node that dies.
 */
export async function dockerRelay(host: string): Promise<{ dockerHost: string; cut(): void }> {
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const engine = connect('/var/run/docker.sock');
    sockets.add(client).add(engine);
    client.pipe(engine).pipe(client);
    const end = () => (client.destroy(), engine.destroy());
    client.on('error', end).on('close', end);
    engine.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, host, resolve));
  const { port } = relay.address() as { port: number };
  return {
    dockerHost: `tcp://${host}:${port}`,
    cut() {
      for (const s of sockets) s.destroy();
      relay.close();
    },
  };
}
