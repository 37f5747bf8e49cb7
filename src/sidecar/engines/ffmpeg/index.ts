import { spawn, type ChildProcess } from 'node:child_process';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import { preparePreviewDir, type HlsSettings } from '../../hls.ts';
import { frameMs, type VideoMode } from '../../video-modes.ts';
import type { ClipHandle, ClipListener, Engine, EngineClip } from '../engine.ts';
import { EngineError } from '../engine.ts';
import { clipArgs, programTarget, ProgressParser, redact, type ProgramTarget } from './args.ts';

export interface FfmpegEngineOptions {
  mode: VideoMode;
  output: SidecarOutput;
  hls: HlsSettings;
  /** @defaultValue 'ffmpeg' */
  ffmpegPath?: string;
  /** @defaultValue 2000 — how long a stopped ffmpeg may take to exit before SIGKILL */
  killAfterMs?: number;
  now?: () => number;
}

/**
 * Plays each clip with its own ffmpeg process: skip and stop are a kill, and a
 * clip that breaks takes nothing else down. The cost is a short gap between
 * clips (process start, input probe, encoder start) and a reconnect of the
 * output per clip; a persistent output process fed by per-clip decoders would
 * remove both and is the next step.
 *
 * Pause is SIGSTOP and resume SIGCONT: the frozen process keeps its decoder,
 * encoder and output state, so playout continues from the exact frame, with no
 * re-seek (which would land on a keyframe, not the frame). While stopped
 * nothing is sent: an SRT receiver drops the connection after its peer idle
 * timeout (5 s by default), after which the clip fails and the sequencer moves on.
 */
export class FfmpegEngine implements Engine {
  readonly name = 'ffmpeg';
  private target: ProgramTarget | null = null;
  private readonly running = new Set<ChildProcess>();
  private readonly now: () => number;

  constructor(private readonly o: FfmpegEngineOptions) {
    this.now = o.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.target = programTarget(this.o.output);
    await new Promise<void>((resolve, reject) => {
      const p = spawn(this.o.ffmpegPath ?? 'ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
      p.on('error', (err) => reject(new EngineError(`ffmpeg cannot run: ${err.message}`)));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new EngineError(`ffmpeg -version exited ${code}`))));
    });
    await preparePreviewDir(this.o.hls.dir);
  }

  play(clip: EngineClip, listener: ClipListener): ClipHandle {
    const target = this.target;
    if (!target) throw new EngineError('engine not started');
    const args = clipArgs(clip, this.o.mode, target, this.o.hls);
    const proc = spawn(this.o.ffmpegPath ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(proc);
    const perFrame = frameMs(this.o.mode);
    const progress = new ProgressParser();
    let stderr = '';
    let onAir = false;
    let frames = 0;
    let lastFrameAtMs: number | null = null;
    let stopping = false;
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      proc.on('close', (code, signal) => {
        exited = true;
        this.running.delete(proc);
        resolve();
        if (stopping) return;
        // The last frame stays on the output for one frame time after it is sent.
        if (code === 0) listener.onEnd({ ok: true, endedAtMs: lastFrameAtMs === null ? undefined : Math.round(lastFrameAtMs + perFrame) });
        else {
          const why = redact(stderr.trim().split('\n').slice(-3).join(' | '), target.secrets) || 'no message';
          listener.onEnd({ ok: false, message: `ffmpeg exited ${code ?? signal}: ${why}` });
        }
      });
    });
    proc.on('error', (err) => {
      if (!stopping && !exited) stderr += `${err.message}\n`;
    });
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const count of progress.push(chunk)) {
        if (count > frames) lastFrameAtMs = this.now();
        frames = count;
        if (frames < 1 || onAir) continue;
        // The realtime filter releases frame n at first-frame time + n frames.
        onAir = true;
        listener.onAir(Math.round(this.now() - (frames - 1) * perFrame));
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const signal = (sig: NodeJS.Signals) => {
      if (!exited) proc.kill(sig);
    };
    return {
      pause: () => signal('SIGSTOP'),
      resume: () => signal('SIGCONT'),
      stop: async () => {
        stopping = true;
        if (exited) return;
        // A stopped process only acts on SIGTERM once continued; SIGTERM lets
        // ffmpeg close the preview playlist cleanly.
        signal('SIGCONT');
        signal('SIGTERM');
        const timer = setTimeout(() => signal('SIGKILL'), this.o.killAfterMs ?? 2000);
        await exit;
        clearTimeout(timer);
      },
    };
  }

  async close(): Promise<void> {
    const left = [...this.running];
    await Promise.all(
      left.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('close', () => resolve());
            p.kill('SIGCONT');
            p.kill('SIGKILL');
          }),
      ),
    );
  }
}
