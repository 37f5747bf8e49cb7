import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';

/** The session's encoder ffmpeg: raw frames in, the program (MPEG-TS) out and the HLS preview to files. */
export interface Encoder {
  proc: ChildProcess;
  video: Writable;
  audio: Writable;
  /** Frames written to this encoder. */
  fed: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  /** It has taken every frame written up to some moment: from then on it is fed in real time (encoder-feed.ts). */
  started: boolean;
  closing: boolean;
  /** Why it was killed (it did not start in time). */
  killedFor: string | null;
  exited: Promise<void>;
}

export interface EncoderSpawn {
  ffmpegPath: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Each piece of program it writes. */
  onProgram(chunk: Buffer): void;
  /** It exited on its own (not closed): why, in the operator's words. */
  onExit(enc: Encoder, message: string): void;
}

export function spawnEncoder(o: EncoderSpawn): Encoder {
  const proc = spawn(o.ffmpegPath, o.args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: o.env });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-4000)));
  const video = proc.stdin!;
  const audio = proc.stdio[3] as Writable;
  // A dying ffmpeg closes its pipes: the close handler below reports why.
  video.on('error', () => undefined);
  audio.on('error', () => undefined);
  // The program is always read, so the encoder never waits for the output.
  proc.stdout!.on('data', (chunk: Buffer) => o.onProgram(chunk));
  const enc: Encoder = {
    proc,
    video,
    audio,
    fed: 0,
    spawnedAt: performance.now(),
    started: false,
    closing: false,
    killedFor: null,
    exited: new Promise<void>((resolve) => proc.on('close', () => resolve())),
  };
  proc.on('error', (err) => void (stderr += `${err.message}\n`));
  proc.on('close', (code, signal) => {
    if (enc.closing) return;
    const why = enc.killedFor ?? (stderr.trim().split('\n').slice(-3).join(' | ') || 'no message');
    o.onExit(enc, `encoder ffmpeg exited ${code ?? signal}: ${why}`);
  });
  return enc;
}

/**
 * Before an encoder has started (it reads a frame, then loads before it reads
 * on), whether another frame may be queued for it: up to a second's worth,
 * within the start timeout (past it, it is killed, to be started again). It
 * has started once it took all but two frames of those written.
 */
export function mayQueue(enc: Encoder, frameBytes: number, perFrame: number, startTimeoutMs: number): boolean {
  if (enc.started) return true;
  // Killed, or its input closed: its exit is on the way.
  if (enc.killedFor || enc.video.destroyed) return false;
  const backlog = enc.video.writableLength;
  if (enc.fed * frameBytes - backlog >= 2 * frameBytes && backlog <= 2 * frameBytes) {
    enc.started = true;
    return true;
  }
  if (performance.now() - enc.spawnedAt > startTimeoutMs) {
    enc.killedFor = `the encoder did not catch up with real time within ${startTimeoutMs / 1000} s of starting`;
    enc.proc.kill('SIGKILL');
    return false;
  }
  return backlog < frameBytes * Math.ceil(1000 / perFrame);
}
