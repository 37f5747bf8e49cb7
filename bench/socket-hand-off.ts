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
    // Hooked once; a later phase only changes where its figures go.
    const hooked = recorders.get(socket);
    recorders.set(socket, record);
    if (hooked) continue;
    const write = socket.write.bind(socket);
    socket.write = (data: unknown, ...rest: unknown[]) => {
      const to = recorders.get(socket);
      if (to && typeof data === 'string') {
        const at = data.indexOf('bench@');
        if (at >= 0) to(now() - Number.parseFloat(data.slice(at + 6, at + 40)));
      } else if (to && Buffer.isBuffer(data) && data.length > 64) {
        const at = data.indexOf('bench@');
        if (at >= 0) to(now() - Number.parseFloat(data.toString('latin1', at + 6, at + 40)));
      }
      return write(data, ...rest);
    };
  }
}

const recorders = new WeakMap<object, (ms: number) => void>();
