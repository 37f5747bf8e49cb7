import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** One video frame as the receiver decoded it. */
export interface ReceivedFrame {
  /** Presentation timestamp, in `timeBase` units (as the stream carries it). */
  pts: number;
  /** Mean of each plane (Y, U, V, 0–255): a solid-colour clip is told by it. */
  mean: [number, number, number];
  /** Date.now() when the decoded frame was reported: arrival at the receiver, decoding included. */
  arrivedAt: number;
}

/**
 * The far end of a channel's SRT output that records every video frame it
 * gets: an ffmpeg listener on 127.0.0.1:`port` decoding the stream (one
 * thread, so a frame is reported as soon as it is decoded) and printing each
 * frame's pts and plane means (the showinfo filter). It takes one connection:
 * when the caller goes away it ends (`exited`).
 */
export class FrameReceiver {
  readonly frames: ReceivedFrame[] = [];
  /** Seconds per pts unit, as [num, den] (1/90000 for MPEG-TS). */
  timeBase: [number, number] | null = null;
  /** What ffmpeg printed besides the frames (its last 8 kB). */
  log = '';
  exited: Promise<number | null> = Promise.resolve(null);
  private proc: ChildProcess | null = null;

  constructor(private readonly port: number) {}

  start(): void {
    const proc = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-nostats',
        '-loglevel',
        'info',
        // One connection, listening before the sender calls: probing long costs no frame (they wait),
        // and the encoder's first video can be slow to come on a loaded machine.
        '-probesize',
        '10000000',
        '-analyzeduration',
        '10000000',
        '-threads',
        '1',
        '-f',
        'mpegts',
        '-i',
        `srt://127.0.0.1:${this.port}?mode=listener`,
        '-map',
        '0:v',
        // The means of a centred 64x64 crop (free: no copy) tell a solid colour as well as the whole frame,
        // for a fraction of the time: the receiver must keep up on a loaded machine.
        '-vf',
        'crop=64:64,showinfo',
        '-f',
        'null',
        '-',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let partial = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const now = Date.now();
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.read(line, now);
    });
    this.exited = new Promise((resolve) => proc.on('close', (code) => resolve(code)));
    this.proc = proc;
  }

  private read(line: string, now: number): void {
    const frame = /\bn:\s*\d+ pts:\s*(-?\d+) .*\bmean:\[(\d+) (\d+) (\d+)\]/.exec(line);
    if (frame) {
      const [, pts, y, u, v] = frame;
      this.frames.push({ pts: Number(pts), mean: [Number(y), Number(u), Number(v)], arrivedAt: now });
      return;
    }
    const config = /config in time_base: (\d+)\/(\d+)/.exec(line);
    if (config) this.timeBase ??= [Number(config[1]), Number(config[2])];
    this.log = `${this.log}${line}\n`.slice(-8000);
  }

  /** CPU time the receiver's ffmpeg has used so far (ms), from /proc. */
  async cpuMs(): Promise<number | null> {
    const pid = this.proc?.pid;
    if (!pid) return null;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks (100 Hz).
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields ? (Number(fields[11]) + Number(fields[12])) * 10 : null;
  }

  close(): void {
    this.proc?.kill('SIGKILL');
    this.proc = null;
  }
}
