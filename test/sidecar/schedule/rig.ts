import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { frameRateOf } from '../../../src/schedule/frames.ts';
import { ScheduleSchema, type Schedule, type ScheduleClip, type ScheduleEvent } from '../../../src/schedule/model.ts';
import { Alarms } from '../../../src/sidecar/alarms.ts';
import { EventLog } from '../../../src/sidecar/event-log.ts';
import { ScheduleRunner } from '../../../src/sidecar/schedule/runner.ts';
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
