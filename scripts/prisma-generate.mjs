// `prisma generate` needs no database, but the CLI insists on a schema-engine
// binary it would download on first use. Where that download is impossible,
// any existing file satisfies the check (generation itself never runs it).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
execFileSync('npx', ['prisma', 'generate'], { stdio: 'inherit', env });
