import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { client, CHANNEL_ID, SECRET } from '../sidecar/helpers.ts';
import { until } from '../helpers/until.ts';

/**
 * A channel's sidecar as its own process (node --import tsx src/sidecar/main.ts,
 * ENGINE=ffmpeg), for fault tests that take its output away, starve it, or
 * look at its children. Events are read continuously, so a test can ask when
 * each one was logged.
 */
export interface SidecarProcess {
  proc: ChildProcess;
  call: ReturnType<typeof client>;
  /** Every event read so far, in order. */
  events: any[];
  logs(): string;
  /** Waits until an event matching `match` has been read, and returns it. */
  waitFor(match: (e: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
  stop(): Promise<void>;
}

export async function startSidecar(
  mediaDir: string,
  output: Record<string, unknown>,
  videoFormat = 'PAL',
  env: Record<string, string> = {},
): Promise<SidecarProcess> {
  let logs = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/main.ts'], {
    env: {
      ...process.env,
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: videoFormat,
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify(output),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar did not start: ${logs}`)), 60_000);
    const read = (chunk: Buffer) => {
      logs += chunk.toString();
      const m = /"port":(\d+)/.exec(logs);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', read);
    proc.stderr!.on('data', read);
    proc.once('exit', (code) => reject(new Error(`sidecar exited ${code}: ${logs}`)));
  });
  const call = client(`http://127.0.0.1:${port}`);
  const events: any[] = [];
  let reading = true;
  const reader = (async () => {
    let after = 0;
    while (reading) {
      try {
        const page = await call('GET', `/events?after=${after}&waitMs=1000`);
        events.push(...page.body.events);
        after = page.body.lastSeq;
      } catch {
        if (!reading) return;
      }
    }
  })();
  return {
    proc,
    call,
    events,
    logs: () => logs,
    waitFor: (match, what, timeoutMs = 30_000) => until(() => events.find(match), what, timeoutMs),
    async stop() {
      reading = false;
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      await reader;
    },
  };
}

/** The pids of every descendant of `pid` (children, their children), from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    const m = /\) \S (\d+)/.exec(stat.slice(stat.lastIndexOf(')')));
    if (m) parents.set(Number(name), Number(m[1]));
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) if (parent === p) out.push(child), walk(child);
  };
  walk(pid);
  return out;
}

/** What anyone on the machine (cmdline) or the same user (environ) can read about a process. */
export async function processText(pid: number): Promise<{ exe: string; cmdline: string; environ: string } | null> {
  try {
    return {
      exe: await readlink(`/proc/${pid}/exe`).catch(() => ''),
      cmdline: (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' '),
      environ: (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').join('\n'),
    };
  } catch {
    return null;
  }
}

/** Whether something listens on UDP (SRT) or TCP (RTMP) port `port` on this machine. */
export async function listening(proto: 'udp' | 'tcp', port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const text =
    (await readFile(`/proc/net/${proto}`, 'utf8').catch(() => '')) +
    (await readFile(`/proc/net/${proto}6`, 'utf8').catch(() => ''));
  // A bound UDP socket is listening. A TCP listener is in state 0A, and a connection it accepted in
  // 01: ffmpeg's RTMP server (-listen 1) closes its listening socket once its one client connects,
  // which a sender retrying every second may do within a poll.
  return text.split('\n').some((l) => {
    const cols = l.trim().split(/\s+/);
    return (cols[1] ?? '').endsWith(hex.trim()) && (proto === 'udp' || cols[3] === '0A' || cols[3] === '01');
  });
}

/** The items' ITEM_ON_AIR/ITEM_ENDED pairs: each aired once, ended once, in order. */
export function itemTimeline(events: any[]) {
  const onAir = events.filter((e) => e.kind === 'ITEM_ON_AIR');
  const ended = events.filter((e) => e.kind === 'ITEM_ENDED');
  return { onAir, ended, starts: onAir.map((e) => Date.parse(e.startedAt)) };
}
