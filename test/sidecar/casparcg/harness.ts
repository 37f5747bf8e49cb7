import { setTimeout as sleep } from 'node:timers/promises';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { LoadPlaylist, SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import type { SidecarOutput } from '../../../src/protocol/sidecar-env.ts';
import { CasparcgEngine, type CasparcgEngineOptions } from '../../../src/sidecar/engines/casparcg/index.ts';
import { Alarms } from '../../../src/sidecar/alarms.ts';
import { EventLog } from '../../../src/sidecar/event-log.ts';
import { hlsSettings } from '../../../src/sidecar/hls.ts';
import { Sequencer } from '../../../src/sidecar/sequencer.ts';
import { VIDEO_MODES } from '../../../src/sidecar/video-modes.ts';
import { AmcpPeer, type AmcpPeerOptions } from '../../helpers/amcp-peer.ts';
import { until as waitUntil } from '../../helpers/until.ts';

export const CHANNEL_ID = '5b1c1e64-7a49-4c1e-9d8f-2c7d3b6a9e02';
export { sleep };

/**
 * Resolves once `holds` does: a command the engine sent without waiting for
 * its answer reaches the peer some event-loop turns later, many on a loaded
 * machine, so what the peer got is waited for, not assumed.
 */
export async function until(holds: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(holds, what, timeoutMs, 20);
}

/** A media volume holding empty files under those names: the peer needs no media, the sidecar checks they exist. */
export async function mediaVolume(names: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'onair-casparcg-'));
  for (const name of names) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), '');
  }
  return dir;
}

/** A pino logger at trace level whose every line is kept. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

export function item(id: string, clip: string, durationMs: number, extra: Record<string, unknown> = {}) {
  return {
    itemId: id,
    assetId: `asset-${id}`,
    clipName: clip,
    mediaPath: `clips/${clip}`,
    durationMs,
    transition: 'CUT' as const,
    transitionMs: 0,
    ...extra,
  };
}

export interface Rig {
  peer: AmcpPeer;
  engine: CasparcgEngine;
  sequencer: Sequencer;
  log: EventLog;
  /** The sidecar's alarms, as the engine raised and cleared them. */
  alarms: Alarms;
  lines: string[];
  mediaDir: string;
  /** Resolves when `until` holds for the event log. */
  waitFor(until: (events: SidecarEvent[]) => boolean, timeoutMs?: number): Promise<SidecarEvent[]>;
  load(playlist: Omit<LoadPlaylist, 'playlistId'>): Promise<void>;
  close(): Promise<void>;
}

export interface RigOptions {
  peer?: Partial<AmcpPeerOptions>;
  mode?: string;
  output?: SidecarOutput;
  engine?: Partial<CasparcgEngineOptions>;
  settings?: Partial<CasparcgEngineOptions['settings']>;
  /** @defaultValue true */
  start?: boolean;
}

/**
 * The engine wired as the sidecar wires it (sequencer, event log, reporter),
 * against a started AMCP peer, with fast polling and reconnection.
 */
export async function rig(o: RigOptions = {}): Promise<Rig> {
  const mode = o.mode ?? '720p5000';
  const clips = o.peer?.clips ?? { 'clips/a.mp4': 3, 'clips/b.mp4': 4, 'clips/c.mp4': 3 };
  const peer = new AmcpPeer({ channels: [mode], ...o.peer, clips });
  await peer.start();
  const mediaDir = await mediaVolume(Object.keys(clips));
  const log = new EventLog();
  const alarms = new Alarms(log);
  const { logger, lines } = capturedLogger();
  const engine = new CasparcgEngine({
    settings: {
      host: '127.0.0.1',
      port: peer.port,
      channel: 1,
      layer: 10,
      setMode: false,
      mediaDir: '/srv/onair-media',
      preview: true,
      ...o.settings,
    },
    mode: VIDEO_MODES.get(mode)!,
    output: o.output ?? { type: 'UDP', url: 'udp://127.0.0.1:9' },
    mediaDir,
    hls: hlsSettings(mediaDir, CHANNEL_ID),
    report: {
      error: (message) => void log.append({ kind: 'ERROR', message }),
      raise: (kind, message) => alarms.raise(kind, message),
      clear: (kind) => alarms.clear(kind),
      count: (name, n) => alarms.count(name, n),
    },
    logger,
    pollMs: 40,
    retryFirstMs: 100,
    retryMaxMs: 400,
    connectTimeoutMs: 3000,
    ...o.engine,
  });
  const sequencer = new Sequencer({ engine, log, mediaDir, channelId: CHANNEL_ID });
  if (o.start !== false) await engine.start();
  let closed = false;
  return {
    peer,
    engine,
    sequencer,
    log,
    alarms,
    lines,
    mediaDir,
    async waitFor(until, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!until(log.after(0))) {
        if (Date.now() > deadline)
          throw new Error(
            `events never matched: ${JSON.stringify(log.after(0).map((e) => [e.kind, 'itemId' in e ? e.itemId : '', 'how' in e ? e.how : '', e.kind === 'ERROR' ? e.message : '']))}`,
          );
        await sleep(20);
      }
      return log.after(0);
    },
    load: (playlist) => sequencer.load({ playlistId: 'p1', ...playlist }),
    async close() {
      if (closed) return;
      closed = true;
      await sequencer.close();
      await engine.close().catch(() => undefined);
      await peer.stop();
      await rm(mediaDir, { recursive: true, force: true });
    },
  };
}

export const onAir = (events: SidecarEvent[], itemId: string) =>
  events.find((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === itemId) as
    | Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }>
    | undefined;
export const ended = (events: SidecarEvent[], itemId: string) =>
  events.find((e) => e.kind === 'ITEM_ENDED' && e.itemId === itemId) as
    | Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>
    | undefined;
