// Another API replica for `npm run bench -- subscriptions` (BENCH_SUB_REPLICAS):
// the same server as the bench's own, in a process of its own, on the same
// database and Redis (its configuration comes in the environment), so that an
// event reaches its subscribers through the event bus as in production. On
// request it reports what it measured: the time from publish to each message
// handed to its sockets, and its CPU.
import type { AddressInfo } from 'node:net';
import { recordHandOffs } from './socket-hand-off.ts';
import { loadConfig } from '../src/config.ts';
import { buildApp } from '../src/server/app.ts';
import { createServices } from '../src/services/index.ts';

/** Parent → replica. `write`: the reference row, a pre-serialized message written to this replica's sockets. */
export type ReplicaCommand = { kind: 'measure' } | { kind: 'report' } | { kind: 'write'; text: string };

/** Replica → parent. */
export type ReplicaReply =
  | { kind: 'listening'; url: string }
  | { kind: 'measuring' }
  | { kind: 'report'; handedOff: number[]; cpuMicros: number }
  | { kind: 'failed'; error: string };

const services = createServices(loadConfig());
const app = buildApp(services);
let handedOff: number[] = [];
let cpu = process.cpuUsage();

function measure(): void {
  handedOff = [];
  cpu = process.cpuUsage();
  recordHandOffs(app.websocket.server.clients, (ms) => handedOff.push(ms));
}

process.on('message', (command: ReplicaCommand) => {
  if (command.kind === 'write') {
    for (const socket of app.websocket.server.clients) socket.send(command.text);
    return;
  }
  if (command.kind === 'measure') {
    measure();
    process.send?.({ kind: 'measuring' } satisfies ReplicaReply);
    return;
  }
  const used = process.cpuUsage(cpu);
  process.send?.({ kind: 'report', handedOff, cpuMicros: used.user + used.system } satisfies ReplicaReply);
});
process.on('disconnect', () => {
  void app.close().finally(() => services.close().finally(() => process.exit(0)));
});

app.server.listen(0, '127.0.0.1', () => {
  process.send?.({
    kind: 'listening',
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`,
  } satisfies ReplicaReply);
});
