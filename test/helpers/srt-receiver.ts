import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { until } from './until.ts';

/**
 * The far end of a channel's SRT output: an ffmpeg listener on 127.0.0.1:`port`
 * that discards what it gets, listening again whenever the caller goes away
 * (as after a sidecar restart), until closed.
 */
export function srtReceiver(port: number): { close(): void } {
  let closing = false;
  let receiver: ChildProcess | undefined;
  const listen = () => {
    if (closing) return;
    receiver = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-i', `srt://127.0.0.1:${port}?mode=listener`, '-f', 'null', '-'],
      { stdio: 'ignore' },
    );
    receiver.once('exit', listen);
  };
  listen();
  return {
    close() {
      closing = true;
      receiver?.kill('SIGKILL');
    },
  };
}

/**
 * Waits until something binds UDP `port` (an SRT listener is UDP): a sender
 * that calls before the receiver listens loses its first attempt and the
 * frames aired while it retries, which a test counting frames would miss.
 */
export async function srtListening(port: number, timeoutMs = 10_000): Promise<void> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  await until(
    async () => {
      const table =
        (await readFile('/proc/net/udp', 'utf8')) + (await readFile('/proc/net/udp6', 'utf8').catch(() => ''));
      // Each row is "sl local_address rem_address ..."; local_address is HEXIP:HEXPORT.
      return table.split('\n').some((row) => row.trim().split(/\s+/)[1]?.endsWith(local));
    },
    `a UDP listener on port ${port}`,
    timeoutMs,
    20,
  );
}
