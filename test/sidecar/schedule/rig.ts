import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { frameRateOf } from '../../../src/schedule/frames.ts';
import { ScheduleSchema, type Schedule, type ScheduleClip, type ScheduleEvent } from '../../../src/schedule/model.ts';
import { Alarms } from '../../../src/sidecar/alarms.ts';
import { FfmpegEngine } from '../../../src/sidecar/engines/ffmpeg/index.ts';
import type { FfmpegEngineOptions } from '../../../src/sidecar/engines/ffmpeg/options.ts';
import { EventLog } from '../../../src/sidecar/event-log.ts';
import { hlsSettings } from '../../../src/sidecar/hls.ts';
import { ScheduleRunner } from '../../../src/sidecar/schedule/runner.ts';
import { VIDEO_MODES } from '../../../src/sidecar/video-modes.ts';
import { CHANNEL_ID } from '../helpers.ts';
import type { ManualPlay } from '../../../src/sidecar/schedule/precedence.ts';
import { VirtualClock, VirtualDevice } from './virtual-device.ts';

export const FORMAT = '1080p2500';
export const RATE = frameRateOf(FORMAT);

export function schedule(version: number, events: ScheduleEvent[], filler: ScheduleClip[]): Schedule {
  return ScheduleSchema.parse({ version, videoFormat: FORMAT, timeZone: 'UTC', events, filler });
}

/** Manual play as a test sees it: whether a playlist airs, and the hand-backs the runner asked for. */
export class ManualStandIn implements ManualPlay {
  on = false;
  readonly calls: string[] = [];
  active = () => this.on;
  handBack = async (atMs: number) => void this.calls.push(`handBack ${new Date(atMs).toISOString()}`);
  handedBack = async (atMs: number) => {
    this.calls.push(`handedBack ${new Date(atMs).toISOString()}`);
    this.on = false;
  };
}

/** A runner on a virtual clock driving the virtual device, starting at `startMs`. */
export function rig(startMs: number, missingFiles: string[] = []) {
  const clock = new VirtualClock(startMs);
  const device = new VirtualDevice(clock, RATE, new Set(missingFiles));
  const log = new EventLog({ now: () => clock.now(), capacity: 100_000 });
  const alarms = new Alarms(log, () => clock.now());
  const manual = new ManualStandIn();
  const runner = new ScheduleRunner({
    engine: device,
    log,
    alarms,
    mediaDir: '/media',
    videoFormat: FORMAT,
    clock,
    manual,
    joinLeadMs: 500,
  });
  const events = () => log.after(0, 100_000);
  /** ITEM_ENDED as `itemId how startedAt→endedAt` (times as HH:MM:SS.mmm). */
  const asRun = () =>
    events()
      .filter((e): e is Extract<SidecarEvent, { kind: 'ITEM_ENDED' }> => e.kind === 'ITEM_ENDED')
      .map((e) => `${e.itemId} ${e.how} ${hms(e.startedAt)}→${hms(e.endedAt)}`);
  return { clock, device, log, alarms, manual, runner, events, asRun };
}

export const hms = (iso: string | null) => (iso === null ? '-' : iso.slice(11, 23));

type OnAir = Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }>;
type Ended = Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>;

/**
 * A runner driving a started real ffmpeg engine on `mediaDir`, by the system
 * clock, its output to a UDP port nobody reads; the engine's preview keeps
 * 200 segments, so that a test can read what aired back (preview-frames.ts).
 */
export async function ffmpegRunner(mediaDir: string, format: string, engine: Partial<FfmpegEngineOptions> = {}) {
  const log = new EventLog();
  const alarms = new Alarms(log);
  let framesDropped = 0;
  const hls = hlsSettings(mediaDir, CHANNEL_ID, { listSize: 200 });
  const ffmpeg = new FfmpegEngine({
    mode: VIDEO_MODES.get(format)!,
    output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
    hls,
    report: {
      error: (message) => void log.append({ kind: 'ERROR', message }),
      count: (name, n = 1) => void (name === 'framesDropped' && (framesDropped += n)),
    },
    ...engine,
  });
  await ffmpeg.start();
  const runner = new ScheduleRunner({ engine: ffmpeg, log, alarms, mediaDir, videoFormat: format });
  return {
    engine: ffmpeg,
    runner,
    log,
    hls,
    /** Frames the engine lost for good (its decoders or encoder behind). */
    framesDropped: () => framesDropped,
    onAir: () => log.after(0).filter((e): e is OnAir => e.kind === 'ITEM_ON_AIR'),
    ended: () => log.after(0).filter((e): e is Ended => e.kind === 'ITEM_ENDED'),
    /** Detaches the schedule and closes the engine (its preview's last segment written). */
    async close() {
      await runner.detach();
      await ffmpeg.close();
    },
  };
}
