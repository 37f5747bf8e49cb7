import type { WebSocket } from 'ws';

// The server's side of the subscriptions bench: when each message left for its
// socket, measured in the process that wrote it (one process, or each replica).

const now = () => performance.timeOrigin + performance.now();

/**
 * Calls `record` with publish → hand-off (ms) for each status change written to one of `sockets` (the publish
 * time is in the message). Taken where both rows write: onair writes each message as a whole frame to the
 * connection's socket, the reference row goes through `ws`, which writes the header, then the text.
 */
export function recordHandOffs(sockets: Iterable<WebSocket>, record: (ms: number) => void): void {
  for (const client of sockets) {
    // ws keeps the connection's socket in a private field; a measurement may look.
    const socket = (client as unknown as { _socket: { write(data: unknown, ...rest: unknown[]): boolean } })._socket;
    const write = socket.write.bind(socket);
    socket.write = (data: unknown, ...rest: unknown[]) => {
      if (typeof data === 'string') {
        const at = data.indexOf('bench@');
        if (at >= 0) record(now() - Number.parseFloat(data.slice(at + 6, at + 40)));
      } else if (Buffer.isBuffer(data) && data.length > 64) {
        const at = data.indexOf('bench@');
        if (at >= 0) record(now() - Number.parseFloat(data.toString('latin1', at + 6, at + 40)));
      }
      return write(data, ...rest);
    };
  }
}
