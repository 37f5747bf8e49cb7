import { spawn, type ChildProcess } from 'node:child_process';

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
