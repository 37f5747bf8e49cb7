import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const ALLOWED = [join(root, 'src/sidecar'), join(root, 'src/protocol')];

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else if (/\.(ts|mts|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every module specifier in static imports, re-exports and dynamic import(). */
function specifiers(source: string): string[] {
  const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...source.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3]);
}

describe('sidecar import boundary', () => {
  it('src/sidecar and src/protocol import only each other, node builtins and npm packages', async () => {
    const bad: string[] = [];
    const all = [...(await files(join(root, 'src/sidecar'))), ...(await files(join(root, 'src/protocol')))];
    expect(all.length).toBeGreaterThan(5);
    for (const file of all) {
      for (const spec of specifiers(await readFile(file, 'utf8'))) {
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        if (spec.startsWith('.') || spec.startsWith('/')) {
          const target = resolve(dirname(file), spec);
          if (!ALLOWED.some((a) => target.startsWith(`${a}/`))) bad.push(`${relative(root, file)} → ${spec}`);
          continue;
        }
        if (spec.startsWith('#') || spec.startsWith('~') || spec.startsWith('@/') || spec.startsWith('src/')) bad.push(`${relative(root, file)} → ${spec}`);
      }
      // src/protocol is shared with the control plane: zod only.
      if (file.includes('/src/protocol/')) {
        for (const spec of specifiers(await readFile(file, 'utf8'))) {
          if (spec !== 'zod' && !spec.startsWith('./')) bad.push(`${relative(root, file)} → ${spec} (protocol imports only zod)`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
