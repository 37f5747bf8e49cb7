import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarOutput } from '../../../src/protocol/sidecar-env.ts';
import { item, onAir, rig, type Rig } from './harness.ts';

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.close();
  rigs = [];
});

const KEY = 'live_7f3c9a1e-stream-key';
const PASSPHRASE = 'srt pass (phrase) 42';
// 720p5000: 5 Mbit/s programme, a GOP of one second.
const TAIL =
  '-codec:v libx264 -preset:v veryfast -tune:v zerolatency -g:v 50 -keyint_min:v 50 -b:v 5000k -maxrate:v 5000k -bufsize:v 10000k -codec:a aac -b:a 128k';

describe('the channel output as a CasparCG consumer', () => {
  it.each([
    [{ type: 'DECKLINK', deviceIndex: 2 }, 'ADD 1-700 DECKLINK 2 EMBEDDED_AUDIO', 'decklink'],
    [{ type: 'NDI', name: 'onair one' }, 'ADD 1-700 NDI NAME "onair one"', 'ndi'],
    [
      { type: 'SRT', url: 'srt://127.0.0.1:9000?mode=caller', latencyMs: 120, passphrase: PASSPHRASE },
      `ADD 1-700 STREAM "srt://127.0.0.1:9000?mode=caller&latency=120000&pkt_size=1316&passphrase=srt+pass+%28phrase%29+42" -format mpegts ${TAIL}`,
      'ffmpeg',
    ],
    [
      { type: 'RTMP', url: 'rtmp://127.0.0.1/live', streamKey: KEY },
      `ADD 1-700 STREAM "rtmp://127.0.0.1/live/${KEY}" -format flv ${TAIL}`,
      'ffmpeg',
    ],
  ] as [SidecarOutput, string, string][])(
    '%j is added when the engine starts and removed when it stops',
    async (output, add, consumer) => {
      const r = await rig({ output });
      rigs.push(r);
      const sent = r.peer.playoutCommands();
      expect(sent[1]).toBe(add);
      expect(sent[2]).toMatch(/^ADD 1-701 STREAM ".*\/index\.m3u8" -format hls /);
      expect(Object.fromEntries(r.peer.consumers(1))).toEqual({ 700: consumer, 701: 'ffmpeg' });
      await r.engine.close();
      expect(r.peer.playoutCommands().slice(-2)).toEqual(['REMOVE 1-700', 'REMOVE 1-701']);
      expect(r.peer.consumers(1).size).toBe(0);
    },
  );

  it.each([
    [{ type: 'RTMP', url: 'rtmp://127.0.0.1/live', streamKey: KEY }, KEY, 'RTMP rtmp://127.0.0.1/live'],
    [{ type: 'SRT', url: 'srt://127.0.0.1:9000', passphrase: PASSPHRASE }, PASSPHRASE, 'SRT srt://127.0.0.1:9000'],
  ] as [SidecarOutput, string, string][])(
    '%j: the secret reaches the server and no log line, even when the output is refused, dropped or the connection lost',
    async (output, secret, label) => {
      // Refused at start: the start fails with the command, its secret redacted.
      const refused = await rig({ output, start: false });
      rigs.push(refused);
      refused.peer.failNext(/^ADD 1-700/, '404 ADD FAILED');
      const failure = await refused.engine.start().then(
        () => null,
        (err: Error) => err.message,
      );
      expect(failure).toMatch(
        new RegExp(
          `^CasparCG could not add the channel's output \\(${label.replace(/[/.?]/g, '\\$&')}\\): ADD 1-700 STREAM "[^"]*\\[redacted\\]" -format \\w+ -codec:v .*: 404 ADD \\(media file not found\\)$`,
        ),
      );
      expect(failure).not.toContain(secret);

      // Running: the server drops the consumer (as it does when one fails) and the connection blips.
      const r = await rig({ output, engine: { consumerCheckMs: 100 } });
      rigs.push(r);
      await r.load({ loop: false, items: [item('A', 'a.mp4', 2500)] });
      await r.waitFor((evs) => !!onAir(evs, 'A'));
      r.peer.dropConsumer(1, 700);
      await r.waitFor((evs) => evs.some((e) => e.kind === 'ERROR' && e.message.includes('had lost its')));
      expect(r.peer.consumers(1).get(700)).toBe('ffmpeg');
      r.peer.dropConnections();
      await r.waitFor((evs) => evs.some((e) => e.kind === 'ERROR' && e.message.startsWith('reconnected')));
      await r.close();

      const errors = r.log
        .after(0)
        .filter((e) => e.kind === 'ERROR')
        .map((e) => (e.kind === 'ERROR' ? e.message : ''));
      expect(errors[0]).toBe(
        `CasparCG channel 1 had lost its ${label} output (the server drops a failing consumer): added it again`,
      );
      // The server got it: its AMCP log may hold it, as CasparCG's own log does.
      const onWire = new URLSearchParams({ s: secret }).toString().slice(2);
      expect(
        r.peer.commands
          .filter((c) => c.line.includes(secret) || c.line.includes(onWire))
          .map((c) => c.line.slice(0, 9)),
      ).toEqual(['ADD 1-700', 'ADD 1-700']);
      // onair never wrote it: not at trace level, not in the event log.
      const everything = [
        ...refused.lines,
        ...r.lines,
        JSON.stringify(r.log.after(0)),
        JSON.stringify(refused.log.after(0)),
      ].join('\n');
      expect(r.lines.some((l) => l.includes('AMCP send') && l.includes('[redacted]'))).toBe(true);
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(encodeURIComponent(secret));
      expect(everything).not.toContain(onWire);
    },
  );
});
