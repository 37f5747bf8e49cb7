import { readdir, readFile, rename, rm, stat, writeFile, open } from 'node:fs/promises';
import path from 'node:path';

/**
 * The local orchestrator's run directory: one pid file per sidecar
 * (`<channel>.json`: pid, port, and the process's start time from /proc) and
 * its log (`<channel>.log`). A pid alone is not proof: after the sidecar's end
 * the number may name any other process. A pid file's process is taken as the
 * channel's sidecar only while /proc shows the same start time and CHANNEL_ID
 * in its environment.
 */

interface PidFile {
  channelId: string;
  pid: number;
  port: number;
  /** /proc/<pid>/stat field 22: clock ticks after boot; differs for a reused pid. */
  startTicks: string;
}

const NAME = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\.json$/;

/** The process's start time and state from /proc; null when it does not exist. */
async function procStat(pid: number): Promise<{ startTicks: string; state: string } | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTicks: fields[19] };
  } catch {
    return null;
  }
}

async function hasChannelEnv(pid: number, channelId: string): Promise<boolean> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`CHANNEL_ID=${channelId}`);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class RunDir {
  constructor(readonly dir: string) {}

  pidFile(channelId: string): string {
    return path.join(this.dir, `${channelId}.json`);
  }

  logFile(channelId: string): string {
    return path.join(this.dir, `${channelId}.log`);
  }

  /** Written whole (temporary file, then rename): a reader never sees half of it. */
  async record(channelId: string, pid: number, port: number): Promise<void> {
    const startTicks = (await procStat(pid))?.startTicks ?? '';
    const body: PidFile = { channelId, pid, port, startTicks };
    const tmp = `${this.pidFile(channelId)}.${pid}.tmp`;
    await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
    await rename(tmp, this.pidFile(channelId));
  }

  private async read(channelId: string): Promise<PidFile | null> {
    try {
      const body = JSON.parse(await readFile(this.pidFile(channelId), 'utf8')) as PidFile;
      return body.channelId === channelId && Number.isInteger(body.pid) && body.pid > 0 ? body : null;
    } catch {
      return null;
    }
  }

  /** Whether the pid file's process is still the channel's sidecar (alive, same start, same CHANNEL_ID). */
  async verified(file: PidFile): Promise<boolean> {
    const s = await procStat(file.pid);
    if (!s || s.state === 'Z' || s.startTicks !== file.startTicks) return false;
    return hasChannelEnv(file.pid, file.channelId);
  }

  /** Removes the channel's pid file if it still names `pid` (a newer start's is kept). */
  async forget(channelId: string, pid: string): Promise<void> {
    const file = await this.read(channelId);
    if (file && (!pid || String(file.pid) === pid)) await rm(this.pidFile(channelId), { force: true });
  }

  /** The sidecars of the pid files that are still alive; the pid files of dead ones are removed. */
  async live(): Promise<PidFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: PidFile[] = [];
    for (const name of names) {
      const channelId = NAME.exec(name)?.[1];
      if (!channelId) continue;
      const file = await this.read(channelId);
      if (file && (await this.verified(file))) out.push(file);
      else if (file) await this.forget(channelId, String(file.pid));
    }
    return out;
  }

  /**
   * Stops the channel's sidecar by its pid file: SIGTERM, SIGKILL after
   * `graceMs`, until /proc shows it gone. Only when the pid file names `ref`
   * (when given) and /proc confirms it. True when a process was stopped.
   */
  async stop(channelId: string, ref: string, graceMs: number): Promise<boolean> {
    const file = await this.read(channelId);
    if (!file || (ref && String(file.pid) !== ref)) return false;
    if (!(await this.verified(file))) {
      await this.forget(channelId, String(file.pid));
      return false;
    }
    // Gone once /proc says so (no such process, a zombie, another start): not once its environ reads empty,
    // which it does while the process is still exiting, its port maybe still held.
    const gone = async () => {
      const s = await procStat(file.pid);
      return !s || s.state === 'Z' || s.state === 'X' || s.startTicks !== file.startTicks;
    };
    process.kill(file.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && !(await gone())) await sleep(50);
    if (!(await gone())) {
      process.kill(file.pid, 'SIGKILL');
      while (!(await gone())) await sleep(20);
    }
    await this.forget(channelId, String(file.pid));
    return true;
  }

  /** The last `chars` characters of the channel's sidecar log (its start-failure reason). */
  async logTail(channelId: string, chars: number): Promise<string> {
    try {
      const file = this.logFile(channelId);
      const { size } = await stat(file);
      const handle = await open(file, 'r');
      try {
        const length = Math.min(size, chars);
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, size - length);
        return buf.toString('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return '';
    }
  }
}
