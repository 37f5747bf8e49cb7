import { svelte } from '@sveltejs/vite-plugin-svelte';
import path from 'node:path';
import { defineConfig } from 'vite';

/**
 * The operator console: built by `npm run build` (scripts/build.mjs) into dist/console,
 * served by `onair serve` at /console. Everything it loads ships in that folder.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  plugins: [svelte()],
  build: {
    outDir: path.resolve(import.meta.dirname, '../dist/console'),
    emptyOutDir: true,
    // The browsers an operator's desk runs: current Chromium, Firefox and Safari.
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    // `npx vite console`: the console from its sources, the API from `npm run dev`.
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } },
  },
});
