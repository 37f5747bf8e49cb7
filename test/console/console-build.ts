import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { buildConsole } from '../../scripts/build-console.ts';

// The console the browser tests serve, built once per content rather than once per test file:
// a build is ~10 s of the machine's two cores, and the files that need it run two at a time.
// Kept under node_modules/.cache (npm ci starts it afresh), keyed by a hash of what goes into it.
const root = path.resolve(import.meta.dirname, '../..');
const CACHE = path.join(root, 'node_modules/.cache/onair-console');
/** What the build reads besides console/ (its typed operations are generated against the schema). */
const INPUTS = ['schema/schema.graphql', 'scripts/build-console.ts', 'package-lock.json'];
const LOCK_STALE_MS = 120_000;
const PRUNE_AFTER_MS = 24 * 3_600_000;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    // console/src/gql is the build's own output (codegen), made from the operations and the schema.
    if (entry.isDirectory()) {
      if (full !== path.join(root, 'console/src/gql')) out.push(...(await filesUnder(full)));
    } else out.push(full);
  }
  return out;
}

async function contentHash(): Promise<string> {
  const files = [...(await filesUnder(path.join(root, 'console'))), ...INPUTS.map((f) => path.join(root, f))].sort();
  const hash = createHash('sha256');
  for (const file of files)
    hash
      .update(path.relative(root, file))
      .update('\0')
      .update(await readFile(file));
  return hash.digest('hex').slice(0, 16);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * The console built from the worktree as it is: the folder of an earlier build of the same content,
 * or built now. Test files asking at once wait for one build (a lock file), not one each.
 */
export async function consoleBuild(): Promise<string> {
  const dir = path.join(CACHE, await contentHash());
  if (await exists(path.join(dir, 'index.html'))) {
    // Marked as used, so that a prune leaves it.
    await utimes(dir, new Date(), new Date()).catch(() => {});
    return dir;
  }
  await mkdir(CACHE, { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.close();
      break;
    } catch {
      if (await exists(path.join(dir, 'index.html'))) return dir;
      // A build killed half-way leaves its lock: taken over once it is older than any build.
      const since = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > LOCK_STALE_MS) await rm(lock, { force: true });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (await exists(path.join(dir, 'index.html'))) return dir;
    const building = `${dir}.building-${process.pid}`;
    await buildConsole(building);
    await rename(building, dir);
    // Builds of other content a day old are of no more use (a younger one may serve a run going on).
    for (const name of await readdir(CACHE)) {
      const other = path.join(CACHE, name);
      const age = await stat(other).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (!name.startsWith(path.basename(dir)) && !name.endsWith('.lock') && age > PRUNE_AFTER_MS)
        await rm(other, { recursive: true, force: true });
    }
    return dir;
  } finally {
    await rm(lock, { force: true });
  }
}
