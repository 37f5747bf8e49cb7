import { performance } from 'node:perf_hooks';
import { VIDEO_FORMATS, reducedRate } from '../../src/protocol/video-formats.ts';
import { AmcpFailure, AmcpListener, propertyTreeXml, ptreeFloat } from './amcp-wire.ts';

/**
 * A CasparCG Server stand-in on a real TCP port: it answers AMCP as 2.3/2.4
 * do (CR LF lines, `REQ <id>` → `RES <id> …`, `202 PLAY OK`, `201 INFO OK` +
 * one line of XML with `\n` inside, `200 INFO OK` + lines + an empty line,
 * `404 PLAY FAILED`, `400 ERROR` + the echoed line), keeps each layer's
 * foreground and background, paused flag and playhead, and advances every
 * channel tick by tick at its video mode's rate (fields on interlaced modes),
 * with LOADBG AUTO swapping once `length − frames shown − transition < 1`, as
 * CasparCG's layer does at the out point (it does not model the extra frames
 * 2.3.2 was seen to hold, CasparCG/server#1393). No media: clip durations
 * come from a table.
 * stop()/start() is a server restart: connections dropped, state gone.
 *
 * The session (TCP, framing, REQ/RES, scripted failures) is amcp-wire.ts's AmcpListener.
 * Everything received is kept in `commands` (secrets included: a real server
 * needs them too); `history` records the tick at which each clip's first
 * frame went out.
 */

export interface AmcpPeerOptions {
  /** Video mode of each channel (channel 1 first), e.g. ['720p5000']. */
  channels: string[];
  /** Clip durations in seconds by name (as PLAY names them; matched without case). */
  clips: Record<string, number>;
  /** @defaultValue '2.4' */
  version?: '2.3' | '2.4';
  /** INFO PATHS answers. @defaultValue media/ under /opt/casparcg/ */
  mediaPath?: string;
  initialPath?: string;
  /** Ticks a newly loaded clip takes to show its first frame (its decoder opening the file). @defaultValue 0 */
  openTicks?: number;
}

export interface ReceivedCommand {
  /** The command without its `REQ <id>` prefix. */
  line: string;
  /** Channel 1's tick when it arrived. */
  tick: number;
  atMs: number;
}

export interface OnAirRecord {
  channel: number;
  layer: number;
  name: string;
  /** The channel tick of the clip's first frame. */
  tick: number;
  /** That tick's time on the peer's clock (epoch ms). */
  atMs: number;
  /** File position (ticks) of that first frame. */
  position: number;
}

interface Transition {
  type: string;
  ticks: number;
  done: number;
}

interface Producer {
  kind: 'ffmpeg' | 'color';
  name: string;
  inTicks: number;
  length: number;
  /** Frames shown so far. */
  shown: number;
  openLeft: number;
  loop: boolean;
  transition: Transition | null;
}

interface Layer {
  fg: Producer | null;
  bg: Producer | null;
  auto: boolean;
  paused: boolean;
}

interface Channel {
  index: number;
  mode: string;
  /** Ticks per second as num/den. */
  num: number;
  den: number;
  layers: Map<number, Layer>;
  ports: Map<number, string>;
  tick: number;
  t0: number;
  epoch0: number;
  timer: NodeJS.Timeout | null;
}

/** The file position of the frame on air, as 2.4's ffmpeg producer reports it (its first frame's before it is shown). */
const position = (p: Producer) => p.inTicks + Math.max(0, p.shown - 1);

export class AmcpPeer {
  readonly commands: ReceivedCommand[] = [];
  readonly history: OnAirRecord[] = [];
  private readonly wire = new AmcpListener(
    (tokens, line) => this.execute(tokens, line),
    (line) => {
      // A server's channels tick on their own clock, whatever arrives: ticks this process was too busy to make
      // on time are made before the command is looked at (else it would act, and INFO read, a tick early).
      for (const ch of this.channels) this.advance(ch);
      this.commands.push({ line, tick: this.channels[0]?.tick ?? 0, atMs: Date.now() });
    },
  );
  private channels: Channel[] = [];
  private readonly clips: Map<string, number>;

  constructor(private readonly o: AmcpPeerOptions) {
    this.clips = new Map(Object.entries(o.clips).map(([k, v]) => [k.toLowerCase(), v]));
  }

  get port(): number {
    return this.wire.port;
  }

  /** Connections accepted since construction. */
  get connections(): number {
    return this.wire.connections;
  }

  /** Listens (on the same port again after stop()); state starts empty, like a freshly started server. */
  async start(): Promise<number> {
    this.channels = this.o.channels.map((mode, i) => this.newChannel(i + 1, mode));
    const port = await this.wire.listen();
    for (const ch of this.channels) this.run(ch);
    return port;
  }

  /** The server goes away: connections reset, layers and consumers forgotten. */
  async stop(): Promise<void> {
    for (const ch of this.channels) if (ch.timer) clearTimeout(ch.timer);
    await this.wire.close();
  }

  /** The network drops the AMCP connections; the server goes on playing. */
  dropConnections(): void {
    this.wire.dropConnections();
  }

  /** The next command matching `match` is answered `reply` (e.g. '404 PLAY FAILED') instead. */
  failNext(match: RegExp, reply: string): void {
    this.wire.failNext(match, reply);
  }

  /** The server drops a consumer of its own (as it does when its ffmpeg consumer fails). */
  dropConsumer(channel: number, index: number): void {
    this.channels[channel - 1]?.ports.delete(index);
  }

  consumers(channel: number): Map<number, string> {
    return new Map(this.channels[channel - 1]?.ports ?? []);
  }

  /** What a layer shows now. */
  layer(
    channel: number,
    layer: number,
  ): { foreground: string | null; background: string | null; position: number | null; paused: boolean } {
    const l = this.channels[channel - 1]?.layers.get(layer);
    const fg = l?.fg ?? null;
    return {
      foreground: fg?.name ?? null,
      background: l?.bg?.name ?? null,
      position: fg ? position(fg) : null,
      paused: l?.paused ?? false,
    };
  }

  tickMs(channel = 1): number {
    const ch = this.channels[channel - 1];
    return (1000 * ch.den) / ch.num;
  }

  /** The commands received, without the peer's own INFO and VERSION traffic. */
  playoutCommands(): string[] {
    return this.commands.map((c) => c.line).filter((l) => !/^(INFO|VERSION)\b/i.test(l));
  }

  private newChannel(index: number, mode: string): Channel {
    const f = VIDEO_FORMATS.get(mode);
    if (!f) throw new Error(`unknown mode ${mode}`);
    const { num, den } = reducedRate(f.timeScale * (f.interlaced ? 2 : 1), f.duration);
    return {
      index,
      mode,
      num,
      den,
      layers: new Map(),
      ports: new Map(),
      tick: 0,
      t0: performance.now(),
      epoch0: Date.now(),
      timer: null,
    };
  }

  // --- the clock ------------------------------------------------------------

  private run(ch: Channel): void {
    const tickMs = (1000 * ch.den) / ch.num;
    ch.t0 = performance.now();
    ch.epoch0 = Date.now();
    ch.tick = 0;
    const loop = () => {
      this.advance(ch);
      ch.timer = setTimeout(loop, Math.max(1, ch.t0 + (ch.tick + 1) * tickMs - performance.now()));
    };
    ch.timer = setTimeout(loop, tickMs);
  }

  /** Makes the ticks due by now. */
  private advance(ch: Channel): void {
    if (!ch.timer) return;
    const due = Math.floor((performance.now() - ch.t0) / ((1000 * ch.den) / ch.num));
    while (ch.tick < due) {
      ch.tick++;
      for (const [index, layer] of ch.layers) this.step(ch, index, layer);
    }
  }

  private tickAt(ch: Channel, tick: number): number {
    return Math.round(ch.epoch0 + (tick * 1000 * ch.den) / ch.num);
  }

  /** One channel tick of a layer, in the order CasparCG's layer::receive does it. */
  private step(ch: Channel, index: number, layer: Layer): void {
    const fg0 = layer.fg;
    if (fg0?.transition && fg0.transition.done >= fg0.transition.ticks) fg0.transition = null;
    if (layer.auto && layer.bg) {
      const delta = layer.bg.transition?.ticks ?? 0;
      const framesLeft = (fg0 ? fg0.length - fg0.shown : 0) - delta;
      if (framesLeft < 1) this.promote(layer);
    }
    const fg = layer.fg;
    if (!fg || layer.paused || fg.kind === 'color') return;
    if (fg.openLeft > 0) {
      fg.openLeft--;
      return;
    }
    if (fg.shown < fg.length) {
      if (fg.shown === 0)
        this.history.push({
          channel: ch.index,
          layer: index,
          name: fg.name,
          tick: ch.tick,
          atMs: this.tickAt(ch, ch.tick),
          position: fg.inTicks,
        });
      fg.shown++;
    } else if (fg.loop) fg.shown = 0;
    if (fg.transition) fg.transition.done++;
  }

  private promote(layer: Layer): void {
    if (layer.bg) {
      layer.fg = layer.bg;
      layer.bg = null;
      layer.auto = false;
    }
    layer.paused = false;
  }

  // --- AMCP commands ---------------------------------------------------------

  private channelOf(name: string, spec: string | undefined): { ch: Channel; layer: number | null } {
    const m = /^(\d+)(?:-(\d+))?$/.exec(spec ?? '');
    const ch = m ? this.channels[Number(m[1]) - 1] : undefined;
    if (!m || !ch) throw new AmcpFailure(`401 ${name} ERROR\r\n`);
    return { ch, layer: m[2] === undefined ? null : Number(m[2]) };
  }

  private layerOf(ch: Channel, index: number | null): Layer {
    const i = index ?? 0;
    let layer = ch.layers.get(i);
    if (!layer) ch.layers.set(i, (layer = { fg: null, bg: null, auto: false, paused: false }));
    return layer;
  }

  private execute(tokens: string[], line: string): string {
    const name = (tokens[0] ?? '').toUpperCase();
    const params = tokens.slice(2);
    switch (name) {
      case 'VERSION':
        return `201 VERSION OK\r\n${this.o.version === '2.3' ? '2.3.3.0 4de6d18f LTS Stable' : '2.4.3.0 fd9168c7 Stable'}\r\n`;
      case 'INFO': {
        if (tokens.length === 1)
          return `200 INFO OK\r\n${this.channels.map((c) => `${c.index} ${c.mode} PLAYING\r\n`).join('')}\r\n`;
        if (tokens[1].toUpperCase() === 'PATHS') {
          const initial = this.o.initialPath ?? '/opt/casparcg/';
          const xml = propertyTreeXml('paths', [
            ['media-path', [this.o.mediaPath ?? 'media/']],
            ['log-path', ['log/']],
            ['data-path', ['data/']],
            ['template-path', ['template/']],
            ['initial-path', [initial]],
          ]);
          return `201 INFO PATHS OK\r\n${xml}\r\n`;
        }
        const { ch } = this.channelOf(name, tokens[1]);
        return `201 INFO OK\r\n${this.infoXml(ch)}\r\n`;
      }
      case 'PLAY':
      case 'LOAD':
      case 'LOADBG': {
        const { ch, layer: li } = this.channelOf(name, tokens[1]);
        const layer = this.layerOf(ch, li);
        if (params.length === 0) {
          if (name === 'LOADBG') return `400 ERROR\r\n${line}\r\n`;
          // PLAY without a clip: the background now (or un-pause).
          this.promote(layer);
          return `202 ${name} OK\r\n`;
        }
        const producer = this.producer(ch, name, params);
        if (name === 'LOADBG') {
          layer.bg = producer;
          layer.auto = params.some((p) => p.toUpperCase() === 'AUTO');
          if (layer.auto && !layer.fg) this.promote(layer);
        } else {
          layer.bg = producer;
          layer.auto = false;
          this.promote(layer);
          if (name === 'LOAD') layer.paused = true;
        }
        return `202 ${name} OK\r\n`;
      }
      case 'PAUSE':
      case 'RESUME':
      case 'STOP':
      case 'CLEAR': {
        const { ch, layer: li } = this.channelOf(name, tokens[1]);
        if (name === 'CLEAR' && li === null) ch.layers.clear();
        else if (name === 'CLEAR') ch.layers.delete(li as number);
        else {
          const layer = this.layerOf(ch, li);
          if (name === 'PAUSE') layer.paused = true;
          if (name === 'RESUME') layer.paused = false;
          if (name === 'STOP') {
            layer.fg = null;
            layer.auto = false;
          }
        }
        return `202 ${name} OK\r\n`;
      }
      case 'ADD': {
        const { ch, layer: index } = this.channelOf(name, tokens[1]);
        const kind = (params[0] ?? '').toUpperCase();
        const consumer = { DECKLINK: 'decklink', NDI: 'ndi', STREAM: 'ffmpeg', FILE: 'ffmpeg', SCREEN: 'screen' }[kind];
        if (!consumer || (kind === 'STREAM' && params.length < 2)) throw new AmcpFailure('404 ADD FAILED\r\n');
        const intrinsic = kind === 'DECKLINK' ? 300 + Number(params[1] ?? 1) : kind === 'NDI' ? 900 : 100000;
        ch.ports.set(index ?? intrinsic, consumer);
        return '202 ADD OK\r\n';
      }
      case 'REMOVE': {
        const { ch, layer: index } = this.channelOf(name, tokens[1]);
        if (index === null) throw new AmcpFailure('402 REMOVE FAILED\r\n');
        if (!ch.ports.delete(index)) throw new AmcpFailure('404 REMOVE FAILED\r\n');
        return '202 REMOVE OK\r\n';
      }
      case 'SET': {
        const { ch } = this.channelOf(name, tokens[1]);
        if ((params[0] ?? '').toUpperCase() !== 'MODE') throw new AmcpFailure('403 SET FAILED\r\n');
        const mode = [...VIDEO_FORMATS.keys()].find((k) => k.toLowerCase() === (params[1] ?? '').toLowerCase());
        if (!mode) throw new AmcpFailure('403 SET FAILED\r\n');
        const fresh = this.newChannel(ch.index, mode);
        Object.assign(ch, { mode, num: fresh.num, den: fresh.den });
        return '202 SET MODE OK\r\n';
      }
      default:
        return `400 ERROR\r\n${line}\r\n`;
    }
  }

  /** A producer from PLAY/LOAD/LOADBG parameters, as the ffmpeg producer reads them (2.4: SEEK sets IN when IN is absent). */
  private producer(ch: Channel, command: string, params: string[]): Producer {
    const clip = params[0];
    const upper = params.map((p) => p.toUpperCase());
    const transitionMatch = /.*(CUT|PUSH|SLIDE|WIPE|MIX)\s*(\d+)/.exec(upper.join(' '));
    const transition =
      transitionMatch && Number(transitionMatch[2]) > 0
        ? { type: transitionMatch[1].toLowerCase(), ticks: Number(transitionMatch[2]), done: 0 }
        : null;
    if (/^(EMPTY|#[0-9A-F]{6,8})$/i.test(clip)) {
      return {
        kind: 'color',
        name: clip,
        inTicks: 0,
        length: Number.MAX_SAFE_INTEGER,
        shown: 0,
        openLeft: 0,
        loop: false,
        transition: null,
      };
    }
    const seconds = this.clips.get(clip.toLowerCase());
    if (seconds === undefined) throw new AmcpFailure(`404 ${command} FAILED\r\n`);
    const total = Math.round((seconds * ch.num) / ch.den);
    const get = (key: string) => {
      const i = upper.indexOf(key);
      return i >= 0 && i + 1 < params.length ? Number(params[i + 1]) : undefined;
    };
    const inTicks = get('IN') ?? get('SEEK') ?? 0;
    let out = get('LENGTH') !== undefined ? inTicks + (get('LENGTH') as number) : total;
    out = get('OUT') ?? out;
    return {
      kind: 'ffmpeg',
      name: clip,
      inTicks,
      length: Math.max(0, Math.min(out, total) - inTicks),
      shown: 0,
      openLeft: this.o.openTicks ?? 0,
      loop: upper.includes('LOOP'),
      transition,
    };
  }

  private infoXml(ch: Channel): string {
    const tps = ch.num / ch.den;
    const state: [string, string[]][] = [['framerate', [String(ch.num), String(ch.den)]]];
    if (this.o.version !== '2.3') state.push(['format', [ch.mode]]);
    state.push(['mixer/audio/volume', ['0', '0']]);
    for (const [index, consumer] of [...ch.ports].sort((a, b) => a[0] - b[0]))
      state.push([`output/port/${index}/consumer`, [consumer]]);
    const side = (prefix: string, p: Producer | null, paused: boolean | null, framesLeft: number | null) => {
      if (!p) {
        state.push([`${prefix}/producer`, ['empty']]);
        if (paused !== null) state.push([`${prefix}/paused`, [String(paused)]]);
        return;
      }
      if (p.kind === 'ffmpeg') {
        state.push([`${prefix}/file/clip`, [ptreeFloat(p.inTicks / tps), ptreeFloat(p.length / tps)]]);
        state.push([`${prefix}/file/name`, [p.name]]);
        state.push([`${prefix}/file/path`, [`/opt/casparcg/media/${p.name}`]]);
        state.push([`${prefix}/file/time`, [ptreeFloat(position(p) / tps), ptreeFloat((p.inTicks + p.length) / tps)]]);
      }
      if (framesLeft !== null && framesLeft > 0) state.push([`${prefix}/frames_left`, [String(framesLeft)]]);
      state.push([`${prefix}/loop`, [String(p.loop)]]);
      if (paused !== null) state.push([`${prefix}/paused`, [String(paused)]]);
      const t = p.transition;
      state.push([`${prefix}/producer`, [t ? 'transition' : p.kind]]);
      if (t) {
        state.push([`${prefix}/transition/frame`, [String(t.done), String(t.ticks)]]);
        if (this.o.version !== '2.3') state.push([`${prefix}/transition/producer`, [p.kind]]);
        state.push([`${prefix}/transition/type`, [t.type]]);
      }
    };
    for (const [index, layer] of [...ch.layers].sort((a, b) => a[0] - b[0])) {
      const base = `stage/layer/${index}`;
      side(`${base}/background`, layer.bg, null, null);
      const left =
        layer.auto && layer.bg && layer.fg
          ? layer.fg.length - layer.fg.shown - (layer.bg.transition?.ticks ?? 0)
          : null;
      side(`${base}/foreground`, layer.fg, layer.paused, left);
    }
    return propertyTreeXml('channel', state);
  }
}
