import { defineConfig } from 'prisma/config';

// The CLI reads the connection from here (Prisma 7); the running code gets it
// from src/config.ts through the pg driver adapter.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/onair' },
});
