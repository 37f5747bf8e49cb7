import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AmcpClient, AmcpError, AmcpUnavailable } from '../../../src/sidecar/engines/casparcg/connection.ts';
import { AmcpPeer } from '../../helpers/amcp-peer.ts';
import { sleep } from './harness.ts';

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

const client = (port: number, extra: Partial<ConstructorParameters<typeof AmcpClient>[0]> = {}) => {
  const c = new AmcpClient({
    host: '127.0.0.1',
    port,
    redact: (t) => t.replace('s3cret', '[redacted]'),
    retryFirstMs: 50,
    retryMaxMs: 200,
    ...extra,
  });
  cleanup.push(() => c.close());
  return c;
};

describe('the AMCP client over casparcg-connection', () => {
  it('answers 2xx with their data and turns 4xx/5xx into errors naming the command', async () => {
    const peer = new AmcpPeer({ channels: ['720p5000', '1080i5000'], clips: {} });
    await peer.start();
    cleanup.push(() => peer.stop());
    const c = client(peer.port);
    c.open();
    await c.waitConnected(2000);
    expect(await c.send('INFO')).toEqual({ code: 200, data: ['1 720p5000 PLAYING', '2 1080i5000 PLAYING'] });
    expect((await c.send('VERSION')).data[0]).toMatch(/^2\.4\.3/);
    const refused = await c.send('PLAY 1-10 "clips/s3cret.mp4"').catch((e: Error) => e);
    expect(refused).toBeInstanceOf(AmcpError);
    expect((refused as AmcpError).message).toBe('PLAY 1-10 "clips/[redacted].mp4": 404 PLAY (media file not found)');
    expect(((await c.send('BOGUS 1').catch((e: Error) => e)) as AmcpError).code).toBe(400);
  });

  it('fails a request in flight at once when the connection drops, and sends nothing while down', async () => {
    // A server that answers the library's VERSION and then nothing.
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on('data', (d) => {
        const m = /^REQ (\S+) VERSION\r\n/.exec(d.toString());
        if (m) s.write(`RES ${m[1]} 201 VERSION OK\r\n2.4.3.0\r\n`);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const c = client((server.address() as AddressInfo).port, { timeoutMs: 20_000 });
    c.open();
    await c.waitConnected(2000);
    const pending = c.send('INFO 1').catch((e: Error) => e);
    await sleep(50);
    for (const s of sockets) s.destroy();
    const err = await pending;
    expect(err).toBeInstanceOf(AmcpUnavailable);
    expect((err as Error).message).toBe('INFO 1: the connection to CasparCG dropped before the reply');
    server.close();
    await expect(c.send('INFO 1')).rejects.toThrow(/not connected to CasparCG Server at 127\.0\.0\.1:\d+/);
  });

  it('stays closed once closed: no session comes back behind it', async () => {
    const peer = new AmcpPeer({ channels: ['720p5000'], clips: {} });
    await peer.start();
    cleanup.push(() => peer.stop());
    const c = client(peer.port);
    c.open();
    await c.waitConnected(2000);
    await c.close();
    // casparcg-connection on its own re-opens a closed socket 5 s later.
    await sleep(5500);
    expect(peer.connections).toBe(1);
  });
});
