import { afterEach, describe, expect, it } from 'vitest';
import { programTarget } from '../../src/sidecar/engines/ffmpeg/args.ts';
import { OutputLink } from '../../src/sidecar/engines/ffmpeg/output-link.ts';
import { until } from '../helpers/until.ts';

// The sender's options file (its passphrase) cannot be written: the output is
// lost and said so, and tried again once it can be, never a crash.
const savedTmp = process.env.TMPDIR;
afterEach(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
});

describe('the output link when its options file cannot be written', () => {
  it('raises OUTPUT_LOST naming the output, and starts the sender once the folder is usable again', async () => {
    const raised: string[] = [];
    const link = new OutputLink({
      target: programTarget({
        type: 'SRT',
        url: 'srt://127.0.0.1:9',
        latencyMs: null,
        passphrase: 'srt-Passphrase-0123',
      }),
      label: 'SRT srt://127.0.0.1:9',
      ffmpegPath: 'ffmpeg',
      env: { PATH: process.env.PATH },
      retryFirstMs: 50,
      retryMaxMs: 100,
      report: { raise: (kind: string, message: string) => void raised.push(`${kind}: ${message}`) } as never,
      onFatal: () => undefined,
    });
    process.env.TMPDIR = '/nonexistent/onair-tmp';
    expect(() => link.start()).not.toThrow();
    expect(raised[0]).toMatch(/^OUTPUT_LOST: output not started: SRT srt:\/\/127\.0\.0\.1:9: .*ENOENT/);
    expect(raised[0]).not.toContain('srt-Passphrase');
    process.env.TMPDIR = savedTmp ?? '/tmp';
    await until(() => (link as unknown as { proc: unknown }).proc, 'the sender started after the retry', 5000);
    await link.close();
  });
});
