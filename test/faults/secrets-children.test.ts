import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import { item, makeMediaDir, SECRET } from '../sidecar/helpers.ts';
import { Receiver } from './output-receivers.ts';
import { listening, startSidecar, type SidecarProcess } from './sidecar-process.ts';
import { testPort } from '../helpers/fixtures.ts';

// Everything a playing sidecar starts (encoder, sender, decoders, probes), as
// another user (cmdline) or the same user (environ) of the machine sees it. The
// sender reads the output's passphrase from a descriptor (-fpre /dev/fd/3).
// ffmpeg and ffprobe are found on the sidecar's PATH through a wrapper that
// copies its own /proc cmdline and environ aside, then execs the real tool: every
// child is recorded, however short-lived (sampling /proc misses probes on a busy machine).
const PASSPHRASE = 'srt-Passphrase-0123';
let mediaDir: string;
let spyDir: string;
let sidecar: SidecarProcess | null = null;
let receiver: Receiver | null = null;
const seen = new Map<number, { exe: string; cmdline: string; environ: string }>();

async function spyOn(tools: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'onair-spy-'));
  await mkdir(join(dir, 'log'));
  for (const tool of tools) {
    const script = `#!/bin/sh\ncat /proc/$$/cmdline > '${dir}/log/'$$.cmdline\ncat /proc/$$/environ > '${dir}/log/'$$.environ\nexec /usr/bin/${tool} "$@"\n`;
    await writeFile(join(dir, tool), script);
    await chmod(join(dir, tool), 0o755);
  }
  return dir;
}

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 2, 'b.mp4': 2, 'c.mp4': 2 });
  spyDir = await spyOn(['ffmpeg', 'ffprobe']);
  const port = testPort();
  receiver = Receiver.srt(port, PASSPHRASE);
  receiver.start();
  await until(() => listening('udp', port), 'SRT receiver listening', 20_000);
  const output = { type: 'SRT', url: `srt://127.0.0.1:${port}`, latencyMs: 120, passphrase: PASSPHRASE };
  sidecar = await startSidecar(mediaDir, output, 'PAL', { PATH: `${spyDir}:${process.env.PATH}` });
  const items = [item('a', 'a.mp4', 1500), item('b', 'b.mp4', 1500), item('c', 'c.mp4', 1500)];
  expect((await sidecar.call('POST', '/playlist', { playlistId: 'p', loop: false, items })).status).toBe(200);
  await until(() => receiver!.bytes > 50_000, 'program at the receiver', 60_000);
  await sidecar.waitFor((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED', 'the playlist to end', 60_000);
  for (const name of await readdir(join(spyDir, 'log'))) {
    if (!name.endsWith('.cmdline')) continue;
    const pid = Number(name.split('.')[0]);
    // The wrapper's cmdline is `/bin/sh <dir>/<tool> <args…>`; the tool, once exec'd, has the same arguments.
    const argv = (await readFile(join(spyDir, 'log', name), 'utf8')).split('\0').filter(Boolean);
    const tool = argv[1].split('/').at(-1)!;
    const environ = (await readFile(join(spyDir, 'log', `${pid}.environ`), 'utf8')).split('\0').join('\n');
    seen.set(pid, { exe: `/usr/bin/${tool}`, cmdline: [tool, ...argv.slice(2)].join(' '), environ });
  }
}, 180_000);

afterAll(async () => {
  receiver?.kill();
  await sidecar?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
  if (spyDir) await rm(spyDir, { recursive: true, force: true });
});

const isSender = (cmdline: string) => cmdline.includes(' -f mpegts -i pipe:0 ') && cmdline.includes(' -c copy ');

describe('the children of a playing sidecar', () => {
  it('were seen: the encoder, the sender, a decoder and a probe', () => {
    const lines = [...seen.values()].map((p) => p.cmdline);
    console.log(`[secrets] children seen: ${lines.map((l) => l.split(' ')[0]).join(', ')}`);
    expect(lines.filter((l) => l.includes(' -f rawvideo ') && l.includes(' -i pipe:0 '))).not.toHaveLength(0);
    expect(lines.filter(isSender)).not.toHaveLength(0);
    expect(lines.filter((l) => l.includes('/clips/') && l.startsWith('ffmpeg')).length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.startsWith('ffprobe')).length).toBeGreaterThanOrEqual(1);
  });

  it('get none of the sidecar secret, the output JSON or the passphrase in their environment', () => {
    for (const [pid, p] of seen) {
      expect(p.environ, `environ of ${pid} ${p.cmdline}`).not.toContain('SIDECAR_SECRET');
      expect(p.environ).not.toContain('OUTPUT_JSON');
      expect(p.environ).not.toContain(SECRET);
      expect(p.environ).not.toContain(PASSPHRASE);
      expect(
        p.environ
          .split('\n')
          .map((l) => l.split('=')[0])
          .sort(),
      ).toEqual(expect.arrayContaining(['LANG', 'PATH']));
    }
  });

  it('have neither the sidecar secret nor the passphrase in their command line', () => {
    for (const [pid, p] of seen) {
      expect(p.cmdline, `cmdline of ${pid}`).not.toContain(SECRET);
      expect(p.cmdline, `cmdline of ${pid}`).not.toContain(PASSPHRASE);
    }
  });

  it('include a sender that got the passphrase all the same: the receiver, which insists on it, took the program', () => {
    const sender = [...seen.values()].find((p) => isSender(p.cmdline))!;
    expect(sender.cmdline).toContain('-fpre /dev/fd/3');
    expect(receiver!.bytes).toBeGreaterThan(50_000);
    expect(receiver!.log).not.toMatch(/passphrase|rejected/i);
  });
});
