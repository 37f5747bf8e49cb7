import { describe, expect, it } from 'vitest';
import { videoFormat } from '../../../src/protocol/video-formats.ts';
import {
  amcp,
  clipParams,
  msToTicks,
  quote,
  redact,
  tickRate,
  ticksToMs,
  type ClipCue,
} from '../../../src/sidecar/engines/casparcg/commands.ts';
import {
  PREVIEW_INDEX,
  PROGRAM_INDEX,
  previewConsumer,
  programConsumer,
} from '../../../src/sidecar/engines/casparcg/consumers.ts';
import { channelModes, channelSnapshot, mediaFolder, parseXml } from '../../../src/sidecar/engines/casparcg/info.ts';
import { observe, type TrackedClip } from '../../../src/sidecar/engines/casparcg/timing.ts';
import { EngineError } from '../../../src/sidecar/engines/engine.ts';
import { hlsSettings } from '../../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../../src/sidecar/video-modes.ts';

const at = { channel: 1, layer: 10 };
const cue = (extra: Partial<ClipCue> = {}): ClipCue => ({
  name: 'clips/a.mp4',
  seekTicks: 0,
  lengthTicks: 100,
  transition: 'CUT',
  transitionTicks: 0,
  ...extra,
});

describe('frame arithmetic', () => {
  it.each([
    // mode, ms, ticks: fields on interlaced modes, frames on progressive ones
    ['720p5000', 2000, 100],
    ['1080p2500', 2000, 50],
    ['1080i5000', 2000, 100],
    ['PAL', 400, 20],
    ['1080p5994', 1001, 60],
    ['1080i5994', 1001, 60],
    ['1080p2398', 10_010, 240],
  ])('%s: %i ms are %i ticks', (mode, ms, ticks) => {
    const rate = tickRate(videoFormat(mode));
    expect(msToTicks(ms, rate)).toBe(ticks);
    expect(Math.round(ticksToMs(ticks, rate))).toBe(ms);
  });

  it('does not drift on 1001-denominator rates over a day', () => {
    const rate = tickRate(videoFormat('1080p5994'));
    // 24 h of 59.94 (60000/1001) is 5 178 821.18 frames.
    expect(msToTicks(86_400_000, rate)).toBe(5_178_821);
  });
});

describe('AMCP command strings', () => {
  it('quotes clip names, escaping what CasparCG unescapes, refusing line breaks', () => {
    expect(quote('clips/a b.mp4')).toBe('"clips/a b.mp4"');
    expect(quote('say "hi"\\now.mov')).toBe('"say \\"hi\\"\\\\now.mov"');
    expect(() => quote('a\r\nCLEAR 1')).toThrow(EngineError);
  });

  it.each([
    [cue(), '"clips/a.mp4" LENGTH 100'],
    [cue({ seekTicks: 25, lengthTicks: 75 }), '"clips/a.mp4" SEEK 25 LENGTH 75'],
    [cue({ transition: 'MIX', transitionTicks: 20 }), '"clips/a.mp4" LENGTH 100 MIX 20'],
    [cue({ transition: 'WIPE', transitionTicks: 0 }), '"clips/a.mp4" LENGTH 100'],
    [cue({ transition: 'CUT', transitionTicks: 25 }), '"clips/a.mp4" LENGTH 100'],
    // A name CasparCG 2.3/2.4 would read as a transition gets an explicit no-transition after it.
    [cue({ name: 'promos/PROMO_MIX2025.mov' }), '"promos/PROMO_MIX2025.mov" LENGTH 100 CUT 0'],
    [
      cue({ name: 'promos/PROMO_MIX2025.mov', transition: 'PUSH', transitionTicks: 10 }),
      '"promos/PROMO_MIX2025.mov" LENGTH 100 PUSH 10',
    ],
  ])('clip parameters %#', (c, expected) => {
    expect(clipParams(c)).toBe(expected);
  });

  it('builds every command the engine sends', () => {
    const b = cue({ name: 'clips/b.mp4', seekTicks: 25, lengthTicks: 100, transition: 'MIX', transitionTicks: 20 });
    expect([
      amcp.version(),
      amcp.channels(),
      amcp.paths(),
      amcp.info(1),
      amcp.setMode(1, '1080i5000'),
      amcp.play(at, cue()),
      amcp.playBackground(at),
      amcp.load(at, cue({ seekTicks: 40, lengthTicks: 60 })),
      amcp.loadNext(at, b),
      amcp.loadBackground(at, b),
      amcp.disarm(at),
      amcp.pause(at),
      amcp.stop(at),
      amcp.resume(at),
      amcp.clear(at),
      amcp.add(1, 700, 'DECKLINK 1'),
      amcp.remove(1, 700),
    ]).toEqual([
      'VERSION',
      'INFO',
      'INFO PATHS',
      'INFO 1',
      'SET 1 MODE 1080i5000',
      'PLAY 1-10 "clips/a.mp4" LENGTH 100',
      'PLAY 1-10',
      'LOAD 1-10 "clips/a.mp4" SEEK 40 LENGTH 60',
      'LOADBG 1-10 "clips/b.mp4" SEEK 25 LENGTH 100 MIX 20 AUTO',
      'LOADBG 1-10 "clips/b.mp4" SEEK 25 LENGTH 100 MIX 20',
      'LOADBG 1-10 EMPTY',
      'PAUSE 1-10',
      'STOP 1-10',
      'RESUME 1-10',
      'CLEAR 1-10',
      'ADD 1-700 DECKLINK 1',
      'REMOVE 1-700',
    ]);
  });

  it('redacts secrets', () => {
    expect(redact('ADD 1-700 STREAM "rtmp://h/live/k3y"', ['k3y'])).toBe('ADD 1-700 STREAM "rtmp://h/live/[redacted]"');
  });
});

describe('consumers', () => {
  const mode = VIDEO_MODES.get('1080i5000')!;
  const tail =
    '-codec:v libx264 -preset:v veryfast -tune:v zerolatency -g:v 25 -keyint_min:v 25 -b:v 8000k -maxrate:v 8000k -bufsize:v 16000k -codec:a aac -b:a 128k';

  it.each([
    [{ type: 'DECKLINK', deviceIndex: 2 } as const, 'DECKLINK 2 EMBEDDED_AUDIO', []],
    [{ type: 'NDI', name: 'onair "one"' } as const, 'NDI NAME "onair \\"one\\""', []],
    [
      { type: 'SRT', url: 'srt://10.0.0.9:9000?mode=caller', latencyMs: 200, passphrase: 'pass phrase 123' } as const,
      `STREAM "srt://10.0.0.9:9000?mode=caller&latency=200000&pkt_size=1316&passphrase=pass+phrase+123" -format mpegts ${tail}`,
      ['pass phrase 123', 'pass%20phrase%20123', 'pass+phrase+123'],
    ],
    [
      { type: 'RTMP', url: 'rtmp://live.example/app/', streamKey: 'sk-live-42' } as const,
      `STREAM "rtmp://live.example/app/sk-live-42" -format flv ${tail}`,
      ['sk-live-42'],
    ],
    [
      { type: 'UDP', url: 'udp://239.0.0.1:5000' } as const,
      `STREAM "udp://239.0.0.1:5000?pkt_size=1316" -format mpegts ${tail}`,
      [],
    ],
  ])('%j is ADDed as documented', (output, params, secrets) => {
    const spec = programConsumer(output, mode);
    expect(spec).toMatchObject({ index: PROGRAM_INDEX, params, secrets });
    for (const s of secrets) expect(spec.label).not.toContain(s);
  });

  it('writes the HLS preview into live/<channel> of the media volume as the server sees it', () => {
    const hls = hlsSettings('/media', 'ch-1');
    const spec = previewConsumer(VIDEO_MODES.get('720p5000')!, hls, '/srv/media/live/ch-1', 'r1');
    expect(spec.index).toBe(PREVIEW_INDEX);
    expect(spec.params).toBe(
      'STREAM "/srv/media/live/ch-1/index.m3u8" -format hls -hls_time 1 -hls_list_size 6 ' +
        '-hls_flags delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file ' +
        '-hls_segment_filename /srv/media/live/ch-1/seg-r1-%d.ts ' +
        '-codec:v libx264 -preset:v veryfast -tune:v zerolatency -g:v 50 -keyint_min:v 50 -b:v 400k -maxrate:v 400k -bufsize:v 800k ' +
        '-filter:v scale=-2:180 -codec:a aac -b:a 64k',
    );
    expect(previewConsumer(mode, hls, '/srv/m/live/c', 'r').params).toContain('-filter:v yadif,scale=-2:180');
    expect(() => previewConsumer(mode, hls, '/srv/my media/live/c', 'r')).toThrow(/spaces/);
  });
});

// As CasparCG 2.4 writes `INFO 1` (property_tree, 3-space indent, \n inside the one CR LF line).
const INFO_XML = `<?xml version="1.0" encoding="utf-8"?>
<channel>
   <framerate>50</framerate>
   <framerate>1</framerate>
   <format>720p5000</format>
   <mixer>
      <audio>
         <volume>0</volume>
         <volume>0</volume>
      </audio>
   </mixer>
   <output>
      <port>
         <port_700>
            <consumer>ffmpeg</consumer>
         </port_700>
         <port_701>
            <consumer>ffmpeg</consumer>
         </port_701>
      </port>
   </output>
   <stage>
      <layer>
         <layer_10>
            <background>
               <file>
                  <name>clips/b &amp; c.mp4</name>
                  <time>0.5</time>
                  <time>4</time>
               </file>
               <producer>transition</producer>
            </background>
            <foreground>
               <file>
                  <clip>0</clip>
                  <clip>2</clip>
                  <name>clips/a.mp4</name>
                  <path>/media/clips/a.mp4</path>
                  <time>1.20000005</time>
                  <time>3</time>
               </file>
               <frames_left>40</frames_left>
               <loop>false</loop>
               <paused>false</paused>
               <producer>ffmpeg</producer>
            </foreground>
         </layer_10>
      </layer>
   </stage>
</channel>
`;

describe('INFO answers', () => {
  it('reads a layer, the frame rate and the consumers from INFO <channel>', () => {
    expect(channelSnapshot(INFO_XML, 10)).toEqual({
      framerate: { num: 50, den: 1 },
      foreground: { producer: 'ffmpeg', name: 'clips/a.mp4', timeSec: 1.20000005, paused: false },
      background: { producer: 'transition', name: 'clips/b & c.mp4', timeSec: 0.5, paused: false },
      ports: [700, 701],
    });
    // A layer never played, as a freshly started server shows it.
    expect(channelSnapshot(INFO_XML, 20).foreground).toEqual({
      producer: 'empty',
      name: null,
      timeSec: null,
      paused: false,
    });
    expect(() => parseXml('<channel><stage></channel>')).toThrow(/not XML/);
  });

  it('reads the channel list and the media folder', () => {
    expect(channelModes(['1 720p5000 PLAYING', '2 1080i5000 PLAYING'])).toEqual([
      { channel: 1, mode: '720p5000' },
      { channel: 2, mode: '1080i5000' },
    ]);
    const paths = (media: string) =>
      `<?xml version="1.0" encoding="utf-8"?>\n<paths>\n   <media-path>${media}</media-path>\n   <initial-path>/opt/casparcg/</initial-path>\n</paths>\n`;
    expect(mediaFolder(paths('media/'))).toBe('/opt/casparcg/media/');
    expect(mediaFolder(paths('/srv/onair-media/'))).toBe('/srv/onair-media/');
  });
});

describe('on-air timing from the server', () => {
  const clip = (name: string, extra: Partial<TrackedClip> = {}): TrackedClip => ({
    name,
    baseSec: 0,
    lengthMs: 2000,
    tickMs: 20,
    onAir: false,
    anchorMs: null,
    armedSeen: false,
    ...extra,
  });
  const p = (name: string | null, timeSec: number | null, extra = {}) => ({
    producer: name ? 'ffmpeg' : 'empty',
    name,
    timeSec,
    paused: false,
    ...extra,
  });
  const snap = (fg: ReturnType<typeof p>, bg: ReturnType<typeof p> = p(null, null)) => ({
    framerate: { num: 50, den: 1 },
    foreground: fg,
    background: bg,
    ports: [],
  });
  const ctx = (
    atMs: number,
    previousName: string | null = null,
    previousForeground = null as ReturnType<typeof p> | null,
  ) => ({ atMs, previousName, previousForeground });

  it('dates the start by the playhead, not by when the sample came', () => {
    // Sampled at 10 000 with the playhead 1.2 s past the in point (seek 0.5 s): on air since 8 800, less half a tick.
    const r = observe(snap(p('a', 1.7)), clip('a', { baseSec: 0.5 }), null, ctx(10_000));
    expect(r.observation).toEqual({ kind: 'on-air', startedAtMs: 8790 });
    // Loaded but no frame out yet (a decoder still opening the file): not on air.
    expect(observe(snap(p('a', 0.5)), clip('a', { baseSec: 0.5 }), null, ctx(10_000)).observation.kind).toBe('none');
  });

  it('sees the armed clip take over, even under the same name', () => {
    const a = clip('a', { onAir: true, anchorMs: 5000 });
    expect(observe(snap(p('b', 0.1)), a, clip('b', { armedSeen: true }), ctx(7000)).observation).toEqual({
      kind: 'took-over',
      startedAtMs: 6890,
    });
    // Same clip twice: the background emptied and the playhead is back at the start.
    // Swapped in, its first frame not counted yet: nothing to say (the clip on air is not "lost").
    expect(observe(snap(p('b', 0)), a, clip('b', { armedSeen: true }), ctx(6990)).observation.kind).toBe('none');
    const again = clip('a', { armedSeen: true });
    expect(observe(snap(p('a', 1.9), p('a', 0)), a, again, ctx(6900)).observation.kind).toBe('none');
    // Swapped in under the same name, its first frame not counted yet: the playhead at 0 is the new clip's, so the
    // clip on air keeps its start (re-dated, it would seem to run a second clip's length on).
    expect(observe(snap(p('a', 0)), a, again, ctx(6990))).toMatchObject({
      observation: { kind: 'none' },
      anchorMs: null,
    });
    expect(observe(snap(p('a', 0.1)), a, again, ctx(7000)).observation).toEqual({
      kind: 'took-over',
      startedAtMs: 6890,
    });
  });

  it('ends a clip held on its last frame once its time is up, and notices a layer cleared behind its back', () => {
    const a = clip('a', { onAir: true, anchorMs: 5000 });
    expect(observe(snap(p('a', 2)), a, null, ctx(6990)).observation.kind).toBe('none');
    expect(observe(snap(p('a', 2)), a, null, ctx(7040)).observation).toEqual({ kind: 'ended', endedAtMs: 7000 });
    // The last frame's position as float32 seconds falls a hair short of 1.98 s.
    expect(observe(snap(p('a', Math.fround(1.98))), a, null, ctx(7040)).observation).toEqual({
      kind: 'ended',
      endedAtMs: 7000,
    });
    // Paused on the last frame: not ended.
    expect(observe(snap(p('a', 2, { paused: true })), a, null, ctx(9000)).observation.kind).toBe('none');
    expect(observe(snap(p(null, null)), a, null, ctx(6000)).observation).toEqual({ kind: 'lost', shows: 'nothing' });
  });

  it('keeps the anchor still while paused, and moves it by the paused time after', () => {
    const a = clip('a', { onAir: true, anchorMs: 5000 });
    expect(observe(snap(p('a', 1, { paused: true })), a, null, ctx(9000)).anchorMs).toBe(5000);
    expect(observe(snap(p('a', 1.5)), a, null, ctx(12_000)).anchorMs).toBe(10_490);
  });
});
