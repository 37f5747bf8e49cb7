// `npm run build`: the production build in dist/, one JavaScript file per entry point.
// esbuild rather than tsc: it bundles each entry point with the generated Prisma
// client into a single file in about a second (a sidecar then loads one file of
// onair's instead of ~150), and the dependency is already in the tree (tsx runs on it).
// No code splitting: each file stands alone directly in dist/, so code that finds
// files from import.meta.url (src/paths.ts) sees the same depth as in src/.
// Types are checked by `npm run typecheck`, not here. Dependencies stay in
// node_modules (packages: external), as the image's production install has them.
// Then the operator console (scripts/build-console.ts): Vite and Svelte into dist/console.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { buildConsole } from './build-console.ts';

rmSync('dist', { recursive: true, force: true });
const started = Date.now();
await build({
  entryPoints: {
    server: 'src/server/main.ts',
    worker: 'src/worker/main.ts',
    sidecar: 'src/sidecar/main.ts',
    migrate: 'scripts/migrate.ts',
  },
  outdir: 'dist',
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: 'linked',
  logLevel: 'warning',
});
await buildConsole();
console.log(`onair built into dist/ in ${Date.now() - started} ms (the console in dist/console)`);
