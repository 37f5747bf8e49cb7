import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The far end of a channel's output for fault tests: an ffmpeg that listens
 * (SRT listener, or RTMP server with -listen 1) and copies what it receives to
 * a pipe, so the test knows when program bytes arrive. Killing it is the
 * receiver going away; start() again is it coming back. Between the two it
 * listens again whenever its ffmpeg ends (a sender gone: libsrt's idle
 * timeout, an RTMP client that disconnected), as a real receiver does.
 */
export class Receiver {
  private proc: ChildProcess | null = null;
  private wanted = false;
  /** Arrival times (Date.now()) of every chunk of program received. */
  readonly arrivals: number[] = [];
  bytes = 0;
  /** What it printed but its input's description (warnings and errors), last 8 kB. */
  log = '';
  /**
   * Each connection's video as its short probe (300 ms) found it: ffmpeg's
   * description of the input's video stream, which has the picture size only
   * when the probe saw a keyframe (`none` and "Could not find codec parameters"
   * otherwise).
   */
  readonly videoStreams: string[] = [];

  constructor(private readonly input: string[]) {}

  static srt(port: number, passphrase?: string): Receiver {
    const query = passphrase ? `&passphrase=${encodeURIComponent(passphrase)}` : '';
    return new Receiver(['-f', 'mpegts', '-i', `srt://127.0.0.1:${port}?mode=listener${query}`]);
  }

  static rtmp(port: number, key: string): Receiver {
    return new Receiver(['-listen', '1', '-f', 'flv', '-i', `rtmp://127.0.0.1:${port}/live/${key}`]);
  }

  start(): void {
    this.wanted = true;
    // Warnings too (an RTMP server that gets another stream key than it expects only warns), and the
    // input's description, what the probe found: each line tagged with its level to tell them apart.
    const proc = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-nostats',
        '-loglevel',
        'level+info',
        '-fflags',
        'nobuffer',
        '-probesize',
        '100000',
        '-analyzeduration',
        '300000',
        ...this.input,
        '-map',
        '0',
        '-c',
        'copy',
        '-f',
        'mpegts',
        '-flush_packets',
        '1',
        'pipe:1',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let partial = '';
    let input = false;
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
      const lines = (partial + c).split('\n');
      partial = lines.pop()!;
      for (const tagged of lines) {
        const info = /\[info\] (.*)$/.exec(tagged);
        if (!info) {
          this.log = `${this.log}${tagged}\n`.slice(-8000);
          continue;
        }
        // The input's streams are listed under `Input #0` (its URL, secrets included, kept out of the log),
        // the copies it writes under `Output #0`.
        const line = info[1];
        if (/^(Input|Output) #0/.test(line)) input = line.startsWith('Input');
        else if (input && /^\s*Stream #0:\d+.*: Video: /.test(line)) {
          this.videoStreams.push(line.trim());
          input = false;
        }
      }
    });
    proc.stdout!.on('data', (c: Buffer) => {
      this.arrivals.push(Date.now());
      this.bytes += c.length;
    });
    proc.once('exit', () => {
      if (this.proc === proc && this.wanted) this.start();
    });
    this.proc = proc;
  }

  /** The receiver goes away at once (as a crashed or unplugged one would). */
  kill(): void {
    this.wanted = false;
    this.proc?.kill('SIGKILL');
    this.proc = null;
  }

  /** First arrival at or after `t`, if any. */
  firstAfter(t: number): number | undefined {
    return this.arrivals.find((a) => a >= t);
  }

  lastBefore(t: number): number | undefined {
    return this.arrivals.filter((a) => a < t).at(-1);
  }
}
