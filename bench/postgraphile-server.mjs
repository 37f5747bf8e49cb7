// PostGraphile 5 for the as-run bench, run by bench/postgraphile.ts with the
// Node 24 it installs beside it (v5 needs Node >= 22). Amber preset, production
// settings: no explain, no GraphiQL, no watch mode, no query log.
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

const [databaseUrl, port] = process.argv.slice(2);
const preset = {
  extends: [PostGraphileAmberPreset],
  // The Node interface would rename every `id` column to `rowId`; onair has no Node interface either.
  disablePlugins: ['NodePlugin'],
  pgServices: [makePgService({ connectionString: databaseUrl, schemas: ['public'], poolConfig: { max: 10 } })],
  grafserv: { graphiql: false, graphiqlOnGraphQLGET: false, watch: false },
  grafast: { explain: false },
};
const serv = postgraphile(preset).createServ(grafserv);
const server = createServer();
server.on('error', (err) => {
  console.error(err);
  process.exit(1);
});
await serv.addTo(server);
server.listen(Number(port), '127.0.0.1');
