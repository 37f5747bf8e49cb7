import { describe, expect, it } from 'vitest';
import type { ClipResult } from '../../../src/sidecar/engines/engine.ts';
import type { ChannelSnapshot, ProducerState } from '../../../src/sidecar/engines/casparcg/info.ts';
import { LayerPlayer } from '../../../src/sidecar/engines/casparcg/layer.ts';

// A CasparCG layer's player fed INFO samples by hand, as a starved sidecar
// gets them: far apart. Two clips of the same file in a row (filler pieces, a
// joined piece and the next) swap on the server between two samples, so no
// sample shows the second one armed, and its playhead is past where the first
// one was last seen. The LOADBG … AUTO answered two ticks before a sample was
// sent is in that sample: a background no longer showing it means the swap.

const TICK_MS = 40;
const p = (name: string | null, timeSec: number | null): ProducerState => ({
  producer: name ? 'ffmpeg' : 'empty',
  name,
  timeSec,
  paused: false,
});
const snap = (fg: ProducerState, bg: ProducerState = p(null, null)): ChannelSnapshot => ({
  framerate: { num: 25, den: 1 },
  foreground: fg,
  background: bg,
  ports: [],
});

function player() {
  let now = 100_000;
  const sent: string[] = [];
  const layer = new LayerPlayer({
    at: { channel: 1, layer: 10 },
    rate: { num: 25, den: 1 },
    mediaDir: '/media',
    now: () => now,
    send: async (command) => void sent.push(command),
    canSend: () => true,
    connected: () => true,
    report: () => undefined,
    onAirTimeoutMs: 10_000,
  });
  /** A sample sent at `atMs` − 5 and answered at `atMs` + 5. */
  const sample = async (atMs: number, s: ChannelSnapshot) => {
    now = atMs + 5;
    layer.apply(s, atMs, { sentMs: atMs - 5, receivedMs: atMs + 5 });
    await new Promise((resolve) => setImmediate(resolve));
  };
  const clip = (itemId: string, durationMs: number, inPointMs = 0) => {
    const w = { onAir: null as number | null, end: null as ClipResult | null };
    layer.add(
      { itemId, file: '/media/clips/fill.mp4', inPointMs, durationMs, transition: 'CUT', transitionMs: 0 },
      { onAir: (at) => void (w.onAir = at), onEnd: (r) => void (w.end = r) },
    );
    return w;
  };
  return { layer, sent, sample, clip };
}

describe('a CasparCG layer sampled far apart', () => {
  it('sees the next clip of the same file take over between two samples, on its own frame', async () => {
    const { sent, sample, clip } = player();
    // A piece joined 720 ms in (480 ms of it left), then a whole piece of the same file.
    const joined = clip('joined', 480, 720);
    const next = clip('next', 1200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['PLAY 1-10 "clips/fill.mp4" SEEK 18 LENGTH 12']);
    // On air at 100 000: sampled 100 ms in, the next piece armed at once.
    await sample(100_100, snap(p('clips/fill.mp4', 0.72 + 0.1)));
    expect(joined.onAir).toBeGreaterThanOrEqual(100_000 - TICK_MS);
    expect(sent.at(-1)).toBe('LOADBG 1-10 "clips/fill.mp4" LENGTH 30 AUTO');
    // The next sample 1.5 s later: the server swapped at 100 480, the second piece 1.02 s in, nothing armed.
    await sample(101_500, snap(p('clips/fill.mp4', 1.02)));
    expect(joined.end).toMatchObject({ ok: true });
    expect(Math.abs((joined.end as { endedAtMs: number }).endedAtMs - 100_480)).toBeLessThanOrEqual(TICK_MS);
    expect(Math.abs(next.onAir! - 100_480)).toBeLessThanOrEqual(TICK_MS);
  });

  it('does not take an empty background for the swap before the LOADBG can show in a sample', async () => {
    const { sample, clip } = player();
    const joined = clip('joined', 480, 720);
    clip('next', 1200);
    await new Promise((resolve) => setImmediate(resolve));
    await sample(100_100, snap(p('clips/fill.mp4', 0.82)));
    // Sent within two ticks of the LOADBG's answer: the server may not have put it in the background yet.
    await sample(100_100 + TICK_MS, snap(p('clips/fill.mp4', 0.86)));
    expect(joined.end).toBeNull();
  });
});
