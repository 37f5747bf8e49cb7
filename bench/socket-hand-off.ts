import type { WebSocket } from 'ws';

// The server's side of the subscriptions bench: when each message left for its
// socket, measured in the process that wrote it (one process, or each replica).

const now = () => performance.timeOrigin + performance.now();

/** Calls `record` with publish → hand-off (ms) for each status change written to one of `sockets` (the publish time is in the message). */
export function recordHandOffs(sockets: Iterable<WebSocket>, record: (ms: number) => void): void {
  for (const socket of sockets) {
    const send = socket.send.bind(socket) as (data: unknown, cb?: (err?: Error) => void) => void;
    socket.send = ((data: unknown, cb?: (err?: Error) => void) => {
      const text = typeof data === 'string' ? data : '';
      const at = text.indexOf('bench@');
      if (at >= 0) record(now() - Number.parseFloat(text.slice(at + 6, at + 40)));
      send(data, cb);
    }) as typeof socket.send;
  }
}
