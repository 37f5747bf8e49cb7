import { describe, expect, it } from 'vitest';
import { loadSidecarConfig } from '../../../src/sidecar/config.ts';

const env = {
  CHANNEL_ID: '5b1c1e64-7a49-4c1e-9d8f-2c7d3b6a9e01',
  PORT: '0',
  SIDECAR_SECRET: 's'.repeat(32),
  ENGINE: 'casparcg',
  VIDEO_FORMAT: '1080i5000',
  MEDIA_DIR: '/media',
  OUTPUT_JSON: JSON.stringify({ type: 'DECKLINK', deviceIndex: 1 }),
};

describe('sidecar config for the CasparCG engine', () => {
  it('defaults to a local server, channel 1, layer 10, checking the mode, with the preview', () => {
    expect(loadSidecarConfig(env)).toMatchObject({
      engine: 'casparcg',
      casparcg: { host: '127.0.0.1', port: 5250, channel: 1, layer: 10, setMode: false, mediaDir: null, preview: true },
    });
    expect(
      loadSidecarConfig({
        ...env,
        ENGINE: 'ffmpeg',
        OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
      }).casparcg,
    ).toBeNull();
  });

  it('reads CASPARCG_*, and takes every CasparCG mode (the ffmpeg engine stops at 1080 lines)', () => {
    const c = loadSidecarConfig({
      ...env,
      VIDEO_FORMAT: '2160p5000',
      CASPARCG_HOST: 'caspar.lan',
      CASPARCG_PORT: '5251',
      CASPARCG_CHANNEL: '2',
      CASPARCG_LAYER: '20',
      CASPARCG_SET_MODE: 'true',
      CASPARCG_MEDIA_DIR: '/srv/media',
      CASPARCG_PREVIEW: 'false',
    });
    expect(c.casparcg).toEqual({
      host: 'caspar.lan',
      port: 5251,
      channel: 2,
      layer: 20,
      setMode: true,
      mediaDir: '/srv/media',
      preview: false,
    });
    expect(c.videoMode).toMatchObject({ name: '2160p5000', rateNum: 50, rateDen: 1 });
    expect(() => loadSidecarConfig({ ...env, VIDEO_FORMAT: '2160p5000', ENGINE: 'ffmpeg' })).toThrow(
      /VIDEO_FORMAT: must be a supported video mode/,
    );
  });

  it.each([
    [{ CASPARCG_CHANNEL: '0' }, /CASPARCG_CHANNEL: must be 1 or more/],
    [{ CASPARCG_SET_MODE: 'yes' }, /CASPARCG_SET_MODE: must be true or false/],
    [{ CASPARCG_MEDIA_DIR: 'media' }, /CASPARCG_MEDIA_DIR: must be an absolute path/],
  ])('refuses %j', (patch, message) => {
    expect(() => loadSidecarConfig({ ...env, ...patch })).toThrow(message);
  });
});
