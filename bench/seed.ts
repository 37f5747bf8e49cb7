import pg from 'pg';
import { ensureDatabase, migrate } from '../src/services/migrate.ts';

/** Shape of the generated as-run log. */
export interface SeedOptions {
  url: string;
  /** @defaultValue 5 */
  projects: number;
  /** Channels per project. @defaultValue 10 */
  channelsPerProject: number;
  /** Rounded down to a multiple of the channel count. @defaultValue 5_000_000 */
  rows: number;
  /** Span of history ending at the start of today (UTC). @defaultValue 365 */
  days: number;
  progress: (line: string) => void;
}

// Written last: a database without it (or with another row count) is rebuilt.
const MARKER_DDL =
  'CREATE TABLE IF NOT EXISTS bench_meta (rows bigint NOT NULL, filled_at timestamptz NOT NULL DEFAULT now())';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function filledRows(url: string): Promise<number | null> {
  return withClient(url, async (c) => {
    const t = await c.query(`SELECT to_regclass('bench_meta') IS NOT NULL AS present`);
    if (!t.rows[0].present) return null;
    const r = await c.query<{ rows: string }>('SELECT rows FROM bench_meta LIMIT 1');
    return r.rows[0] ? Number(r.rows[0].rows) : null;
  });
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = decodeURIComponent(admin.pathname.slice(1));
  admin.pathname = '/postgres';
  await withClient(admin.toString(), (c) =>
    c.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`),
  );
}

const seconds = (since: bigint) => (Number(process.hrtime.bigint() - since) / 1e9).toFixed(1);

/**
 * Creates (or reuses, when its marker says it holds `rows` rows) the benchmark
 * database: projects, channels, one playlist of ten items per channel, and the
 * as-run log generated in SQL, one INSERT ... SELECT per batch of channels.
 * Returns whether it was filled now.
 */
export async function seedBenchDatabase(o: SeedOptions): Promise<{ reused: boolean }> {
  await ensureDatabase(o.url);
  const channels = o.projects * o.channelsPerProject;
  const perChannel = Math.floor(o.rows / channels);
  const total = channels * perChannel;
  const existing = await filledRows(o.url).catch(() => null);
  if (existing === total) {
    o.progress(`reusing ${o.url.replace(/\/\/[^@]*@/, '//')} (${existing.toLocaleString('en')} as-run rows)`);
    // Migrations added since it was filled (they never touch the rows).
    await migrate(o.url);
    return { reused: true };
  }
  o.progress('creating the benchmark database');
  await dropDatabase(o.url);
  await ensureDatabase(o.url);
  await migrate(o.url);

  await withClient(o.url, async (c) => {
    const started = process.hrtime.bigint();
    // One anchor for every batch, even when the fill runs across midnight.
    const end = new Date();
    end.setUTCHours(0, 0, 0, 0);
    // Bulk-load settings for this session only. Skipping FK triggers is safe:
    // every generated row references rows created just above.
    await c.query(
      `SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET session_replication_role = replica`,
    );
    await c.query(`INSERT INTO projects (name) SELECT 'bench-p' || p FROM generate_series(1, $1::int) p`, [o.projects]);
    await c.query(
      `INSERT INTO channels (name, project_id, output_type, output, video_format)
       SELECT 'bench-c' || lpad(n::text, 3, '0'), p.id, 'NDI', '{"name":"bench"}', '1080i5000'
         FROM generate_series(0, $1::int - 1) n
         JOIN projects p ON p.name = 'bench-p' || (1 + n / $2::int)`,
      [channels, o.channelsPerProject],
    );
    await c.query(
      `INSERT INTO assets (project_id, filename, storage_key, duration_ms, media_status, media_path)
       SELECT p.id, 'clip-' || a || '.mxf', 'bench/' || p.name || '/clip-' || a || '.mxf', 300000,
              'READY', p.name || '/clip-' || a || '.mxf'
         FROM projects p CROSS JOIN generate_series(0, 9) a`,
    );
    await c.query(`INSERT INTO playlists (channel_id, name) SELECT id, 'rotation' FROM channels`);
    await c.query(
      `INSERT INTO items (playlist_id, asset_id, position)
       SELECT pl.id, a.id, row_number() OVER (PARTITION BY pl.id ORDER BY a.filename) - 1
         FROM playlists pl JOIN channels ch ON ch.id = pl.channel_id JOIN assets a ON a.project_id = ch.project_id`,
    );
    await c.query(
      `CREATE TEMP TABLE bench_channels AS
       SELECT ch.id AS channel_id, pl.id AS playlist_id, row_number() OVER (ORDER BY ch.name) - 1 AS n
         FROM channels ch JOIN playlists pl ON pl.channel_id = ch.id`,
    );

    // Secondary indexes are dropped for the load and rebuilt after: one sort
    // per index is much faster than 5 M random B-tree insertions.
    const indexes = await c.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'as_run' AND indexname <> 'as_run_pkey'`,
    );
    for (const ix of indexes.rows) await c.query(`DROP INDEX "${ix.indexname}"`);

    // One clip every `step` seconds per channel over the span; every 40th clip
    // starts at the same instant as the one before (a failed clip and its
    // replacement), so ties on started_at are broken by id as in production.
    const step = (o.days * 86400) / perChannel;
    const batch = Math.max(1, Math.floor(channels / 10));
    for (let from = 0; from < channels; from += batch) {
      const t = process.hrtime.bigint();
      await c.query(
        `INSERT INTO as_run (channel_id, playlist_id, item_id, asset_id, clip_name, started_at, ended_at,
                             duration_ms, status, sidecar_epoch, sidecar_seq)
         SELECT bc.channel_id, bc.playlist_id, it.id, it.asset_id, 'clip-' || (g % 10) || '.mxf',
                s.started_at, s.started_at + make_interval(secs => d.ms / 1000.0), d.ms, s.status::"AsRunStatus",
                'bench-' || bc.n, g
           FROM bench_channels bc
           CROSS JOIN generate_series(0, $3::int - 1) g
           JOIN items it ON it.playlist_id = bc.playlist_id AND it.position = g % 10
           CROSS JOIN LATERAL (SELECT
                $6::timestamptz - make_interval(days => $4::int)
                  + make_interval(secs => (g - (g % 40 = 1)::int) * $5::float8 + bc.n * 1.7) AS started_at,
                CASE WHEN g % 211 = 0 THEN 'FAILED' WHEN g % 53 = 0 THEN 'SKIPPED'
                     WHEN g % 97 = 0 THEN 'TRUNCATED' ELSE 'PLAYED' END AS status) s
           CROSS JOIN LATERAL (SELECT CASE s.status WHEN 'FAILED' THEN 0 WHEN 'PLAYED' THEN floor($5::float8 * 1000)::int
                                   ELSE floor($5::float8 * 500)::int END AS ms) d
          WHERE bc.n >= $1 AND bc.n < $2`,
        [from, Math.min(from + batch, channels), perChannel, o.days, step, end],
      );
      const done = Math.min(from + batch, channels) * perChannel;
      o.progress(`  as_run: ${done.toLocaleString('en')} / ${total.toLocaleString('en')} rows (${seconds(t)} s)`);
    }
    for (const ix of indexes.rows) {
      const t = process.hrtime.bigint();
      await c.query(ix.indexdef);
      o.progress(`  index ${ix.indexname} (${seconds(t)} s)`);
    }
    await c.query('ANALYZE');
    await c.query(MARKER_DDL);
    await c.query('INSERT INTO bench_meta (rows) SELECT count(*) FROM as_run');
    o.progress(`filled in ${seconds(started)} s`);
  });
  return { reused: false };
}
