// The operator console's build: its typed operations (console/codegen.ts, which fails on an
// operation the printed schema does not serve), then Vite with Svelte into `outDir`.
// `npm run build` writes dist/console; the console's browser test builds into a folder of its own.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { build } from 'vite';

const root = path.resolve(import.meta.dirname, '..');

/** Generates console/src/gql from the console's operations; throws when one does not validate. */
export function generateConsoleOperations(): void {
  execFileSync(path.join(root, 'node_modules/.bin/graphql-codegen'), ['--config', 'console/codegen.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Builds the console into `outDir` (default dist/console). */
export async function buildConsole(outDir: string = path.join(root, 'dist/console')): Promise<void> {
  generateConsoleOperations();
  await build({
    configFile: path.join(root, 'console/vite.config.ts'),
    build: { outDir, emptyOutDir: true },
    logLevel: 'warn',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const arg = process.argv[2];
  if (arg === '--operations') generateConsoleOperations();
  else await buildConsole(arg ? path.resolve(arg) : undefined);
}
