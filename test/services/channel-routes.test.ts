import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealSidecarSecret } from '../../src/domain/channels/channel-lifecycle.ts';
import { adminQuery } from '../helpers/database.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { startReplicas, type Replica, type Replicas } from '../helpers/replicas.ts';
import { createCast, outcome, type Cast } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// Transport commands take their channel's route from memory (services/channel-routes.ts);
// every change of a route, made anywhere, must reach every replica before it misroutes a command.
let set: Replicas;
let a: Replica;
let b: Replica;
let cast: Cast;

/** A sidecar that answers transport commands and counts those carrying its secret. */
async function standIn() {
  const secret = randomBytes(24).toString('base64url');
  let commands = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.headers.authorization !== `Bearer ${secret}`) return void res.writeHead(401).end();
    commands++;
    const status = {
      channelId: 'x',
      engine: 'stand-in',
      state: 'PLAYING',
      playlistId: null,
      loop: false,
      current: null,
      next: null,
      epoch: 'e',
      lastSeq: 0,
      errors: [],
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secret,
    get commands() {
      return commands;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
type StandIn = Awaited<ReturnType<typeof standIn>>;

const SKIP = `mutation ($id: ID!) { skip(channelId: $id) { state } }`;
const skipOn = (replica: Replica, id: string, token = cast.operator.token) => replica.gql(token, SKIP, { id });

/** A RUNNING channel of the home project whose sidecar is `sidecar`. */
async function runningOn(sidecar: StandIn) {
  const channel = await insertChannel(a.services, cast.home.id);
  await route(channel.id, sidecar);
  return channel;
}

function route(channelId: string, sidecar: StandIn) {
  return a.services.db.channel.update({
    where: { id: channelId },
    data: {
      status: 'RUNNING',
      sidecarUrl: sidecar.url,
      sidecarSecret: sealSidecarSecret(a.services.config.secretKey, channelId, sidecar.secret),
    },
  });
}

/**
 * Skips on B until B answers OK from memory. Every change made so far has
 * reached B first: a notification that arrives after B read the route would
 * make it forget the route again (under load, well after this returned).
 */
async function cachedOnB(channelId: string) {
  await b.services.channelRoutes.caughtUp();
  await until(
    async () => outcome(await skipOn(b, channelId)) === 'OK' && b.services.channelRoutes.has(channelId),
    'replica B to answer OK and keep the route',
  );
}

beforeAll(async () => {
  set = await startReplicas(2);
  [a, b] = set.replicas;
  cast = await createCast(a.services);
});
afterAll(() => set?.close());

describe('channel routes', () => {
  it('are read once, then kept; a command from memory sends no statement', async () => {
    const sidecar = await standIn();
    const channel = await runningOn(sidecar);
    await cachedOnB(channel.id);
    const before = sidecar.commands;
    const statements: string[] = [];
    const query = b.services.sql.query.bind(b.services.sql);
    b.services.sql.query = (text, params) => (statements.push(text), query(text, params));
    try {
      expect(outcome(await skipOn(b, channel.id))).toBe('OK');
    } finally {
      b.services.sql.query = query;
    }
    expect(statements.filter((s) => /FROM channels/.test(s))).toEqual([]);
    expect(sidecar.commands).toBe(before + 1);
    // Rights are checked on the kept route too.
    expect(outcome(await skipOn(b, channel.id, cast.viewer.token))).toBe('FORBIDDEN');
    expect(outcome(await skipOn(b, channel.id, cast.outsider.token))).toBe('NOT_FOUND');
    await sidecar.close();
  });

  it('a change made on another replica reaches B: stopped, restarted elsewhere with a new secret, moved, deleted', async () => {
    const first = await standIn();
    const second = await standIn();
    const channel = await runningOn(first);
    await cachedOnB(channel.id);

    // Stopped (by A, or by a worker: any UPDATE).
    await a.services.db.channel.update({
      where: { id: channel.id },
      data: { status: 'STOPPED', sidecarUrl: null, sidecarSecret: null },
    });
    await until(() => !b.services.channelRoutes.has(channel.id), 'B to forget the stopped channel');
    expect(outcome(await skipOn(b, channel.id))).toBe('CONFLICT');

    // Failed over: another sidecar, another secret.
    await route(channel.id, first);
    await cachedOnB(channel.id);
    await route(channel.id, second);
    await until(() => !b.services.channelRoutes.has(channel.id), 'B to forget the old sidecar');
    const before = second.commands;
    expect(outcome(await skipOn(b, channel.id))).toBe('OK');
    expect(second.commands).toBe(before + 1);

    // Moved to another project: its former operators lose it at once.
    await cachedOnB(channel.id);
    await a.services.db.channel.update({ where: { id: channel.id }, data: { projectId: cast.other.id } });
    await until(() => !b.services.channelRoutes.has(channel.id), 'B to forget the moved channel');
    expect(outcome(await skipOn(b, channel.id))).toBe('NOT_FOUND');

    // Deleted.
    await a.services.db.channel.update({ where: { id: channel.id }, data: { projectId: cast.home.id } });
    await cachedOnB(channel.id);
    await a.services.db.channel.update({ where: { id: channel.id }, data: { deletedAt: new Date() } });
    await until(() => !b.services.channelRoutes.has(channel.id), 'B to forget the deleted channel');
    expect(outcome(await skipOn(b, channel.id))).toBe('NOT_FOUND');
    await Promise.all([first.close(), second.close()]);
  });

  it('a route that changed unannounced: the failed command answers as a fresh read would (CONFLICT once stopped)', async () => {
    const sidecar = await standIn();
    const channel = await runningOn(sidecar);
    await cachedOnB(channel.id);
    // The notification is still on its way, as far as B knows: the trigger is off for this change.
    const quiet = async (sql: string) => {
      const client = new pg.Client({ connectionString: a.services.config.databaseUrl });
      await client.connect();
      try {
        await client.query('ALTER TABLE channels DISABLE TRIGGER channels_route_updated');
        await client.query(sql);
      } finally {
        await client.query('ALTER TABLE channels ENABLE TRIGGER channels_route_updated');
        await client.end();
      }
    };
    await quiet(
      `UPDATE channels SET status = 'STOPPED', sidecar_url = NULL, sidecar_secret = NULL WHERE id = '${channel.id}'`,
    );
    await sidecar.close();
    expect(b.services.channelRoutes.has(channel.id)).toBe(true);
    expect(outcome(await skipOn(b, channel.id))).toBe('CONFLICT');
    expect(b.services.channelRoutes.has(channel.id)).toBe(false);
  });

  it('losing the listening connection forgets every route; commands read the database until it listens again', async () => {
    const sidecar = await standIn();
    const channel = await runningOn(sidecar);
    await cachedOnB(channel.id);
    const database = new URL(b.services.config.databaseUrl).pathname.slice(1);
    await adminQuery(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND query = 'LISTEN onair_channel_route'`,
    );
    await until(() => !b.services.channelRoutes.has(channel.id), 'B to forget what it kept');
    // A change while B may not be listening is seen all the same.
    await a.services.db.channel.update({ where: { id: channel.id }, data: { status: 'STOPPED' } });
    expect(outcome(await skipOn(b, channel.id))).toBe('CONFLICT');
    await a.services.db.channel.update({ where: { id: channel.id }, data: { status: 'RUNNING' } });
    // Then it listens again, and keeps routes again.
    await cachedOnB(channel.id);
    await sidecar.close();
  });
});
