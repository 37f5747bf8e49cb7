import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { checkArchitecture } from '../scripts/check-architecture.ts';

// onair's design rules (README, Layout): the import rules of .dependency-cruiser.cjs,
// configuration read in the config modules only, and no clock read in the planner. Each rule is also shown
// to fail on a small tree that breaks it, so that a rule that stopped matching
// anything cannot pass unnoticed.

const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

describe('onair source tree', () => {
  it('keeps its design rules', async () => {
    expect(await checkArchitecture(root)).toEqual([]);
  }, 120_000);
});

/** A tree that keeps every rule; each case below adds files that break one. */
const CLEAN: Record<string, string> = {
  'src/config.ts': `export const logLevel = process.env.LOG_LEVEL ?? 'info';\n`,
  'src/errors.ts': `export class OnairError extends Error {}\n`,
  'src/domain/shared/context.ts': `export interface DomainContext { principal: string | null }\n`,
  'src/domain/channels.ts': `import type { DomainContext } from './shared/context.ts';\nimport { OnairError } from '../errors.ts';\nexport const channel = (ctx: DomainContext) => { if (!ctx.principal) throw new OnairError('no'); return 1; };\n`,
  'src/services/db.ts': `import { logLevel } from '../config.ts';\nexport const db = { logLevel };\n`,
  'src/graphql/context.ts': `import type { DomainContext } from '../domain/shared/context.ts';\nexport interface Context extends DomainContext { authorization: string | null }\n`,
  'src/graphql/schema.ts': `import { GraphQLString } from 'graphql';\nimport type { Context } from './context.ts';\nimport { channel } from '../domain/channels.ts';\nexport const field = { type: GraphQLString, resolve: (_: unknown, __: unknown, ctx: Context) => channel(ctx) };\n`,
  'src/protocol/wire.ts': `import { z } from 'zod';\nimport { LEVELS } from './levels.ts';\nexport const Env = z.object({ LOG_LEVEL: z.enum(LEVELS) });\n`,
  'src/protocol/levels.ts': `export const LEVELS = ['info', 'warn'] as const;\n`,
  'src/sidecar/config.ts': `import { Env } from '../protocol/wire.ts';\nexport const load = (env = process.env) => Env.parse(env);\n`,
  'src/sidecar/main.ts': `import { readFileSync } from 'node:fs';\nimport { pino } from 'pino';\nimport { load } from './config.ts';\nimport { plan } from '../schedule/plan.ts';\npino({ level: load().LOG_LEVEL }).info(readFileSync('/dev/null', 'utf8'), plan(Date.now()));\n`,
  'src/schedule/plan.ts': `import { z } from 'zod';\nimport { LEVELS } from '../protocol/levels.ts';\nimport { frame } from './frames.ts';\nexport const plan = (nowMs: number) => z.enum(LEVELS).parse('info') && frame(new Date(nowMs).getTime());\n`,
  'src/schedule/frames.ts': `export const frame = (ms: number) => Math.floor(ms / 40);\n`,
  'console/src/countdown.ts': `import { frame } from '../../src/schedule/frames.ts';\nexport const left = (ms: number) => frame(ms);\n`,
};

const CASES: { rule: string; breaks: string; files: Record<string, string> }[] = [
  {
    rule: 'api-layer-on-top',
    breaks: 'domain imports the GraphQL context',
    files: {
      'src/domain/users.ts': `import type { Context } from '../graphql/context.ts';\nexport const me = (ctx: Context) => ctx.authorization;\n`,
    },
  },
  {
    rule: 'api-layer-on-top',
    breaks: 'a service imports the GraphQL layer',
    files: { 'src/services/cache.ts': `import { field } from '../graphql/schema.ts';\nexport const cached = field;\n` },
  },
  {
    rule: 'domain-without-graphql-libraries',
    breaks: 'domain builds a Relay connection',
    files: {
      'src/domain/assets.ts': `import { resolveCursorConnection } from '@pothos/plugin-relay';\nexport const page = resolveCursorConnection;\n`,
    },
  },
  {
    rule: 'no-cycles',
    breaks: 'two modules import each other (one of them for a type only)',
    files: {
      'src/services/store.ts': `import { createLocal } from './local-store.ts';\nexport interface Store { key: string }\nexport const open = () => createLocal();\n`,
      'src/services/local-store.ts': `import type { Store } from './store.ts';\nexport const createLocal = (): Store => ({ key: '' });\n`,
    },
  },
  {
    rule: 'sidecar-apart',
    breaks: 'the sidecar imports control-plane code',
    files: { 'src/sidecar/engine.ts': `import { db } from '../services/db.ts';\nexport const engine = db;\n` },
  },
  {
    rule: 'protocol-zod-only',
    breaks: 'the wire types import a node builtin',
    files: {
      'src/protocol/paths.ts': `import { resolve } from 'node:path';\nexport const media = resolve('/media');\n`,
    },
  },
  {
    rule: 'schedule-pure',
    breaks: 'the planner reads a file',
    files: {
      'src/schedule/filler.ts': `import { readFileSync } from 'node:fs';\nexport const pool = () => readFileSync('/media/filler.txt', 'utf8');\n`,
    },
  },
  {
    rule: 'schedule-pure',
    breaks: 'the planner imports control-plane code',
    files: { 'src/schedule/store.ts': `import { db } from '../services/db.ts';\nexport const saved = db;\n` },
  },
  {
    rule: 'clock-passed-in',
    breaks: 'the planner reads the clock',
    files: { 'src/schedule/now.ts': `export const now = () => Date.now();\nexport const today = () => new Date();\n` },
  },
  {
    rule: 'resolvable',
    breaks: 'an import through a path alias the runtime cannot follow',
    files: { 'src/sidecar/alias.ts': `import { load } from '#sidecar/config.ts';\nexport const again = load;\n` },
  },
  {
    rule: 'production-dependencies',
    breaks: 'src imports a package the image does not install (a devDependency)',
    files: { 'src/services/clock.ts': `import { vi } from 'vitest';\nexport const fake = () => vi.useFakeTimers();\n` },
  },
  {
    rule: 'console-on-the-api',
    breaks: 'the console imports a control-plane module instead of calling the API',
    files: { 'console/src/wall.ts': `import { db } from '../../src/services/db.ts';\nexport const wall = db;\n` },
  },
  {
    rule: 'console-on-the-api',
    breaks: 'the console imports a Node builtin',
    files: { 'console/src/clock.ts': `import { hrtime } from 'node:process';\nexport const now = () => hrtime();\n` },
  },
  {
    rule: 'env-in-config-only',
    breaks: 'a service reads process.env',
    files: { 'src/services/redis.ts': `export const url = process.env.REDIS_URL;\n` },
  },
  {
    rule: 'env-in-config-only',
    breaks: 'the sidecar takes env from node:process',
    files: { 'src/sidecar/level.ts': `import { env } from 'node:process';\nexport const level = env.LOG_LEVEL;\n` },
  },
];

describe('each design rule fails on a tree that breaks it', () => {
  const trees: string[] = [];
  afterAll(() => Promise.all(trees.map((t) => rm(t, { recursive: true, force: true }))));

  async function tree(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'onair-architecture-'));
    trees.push(dir);
    // Packages resolve, and are dependencies or devDependencies, as in the repository.
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await copyFile(join(root, 'package.json'), join(dir, 'package.json'));
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    return dir;
  }

  it('passes the tree that keeps them', async () => {
    expect(await checkArchitecture(await tree(CLEAN))).toEqual([]);
  }, 60_000);

  it.each(CASES)(
    '$rule: $breaks',
    async ({ rule, files }) => {
      const violations = await checkArchitecture(await tree({ ...CLEAN, ...files }));
      expect(violations.map((v) => v.rule)).toEqual(expect.arrayContaining([rule]));
      // Only the rule broken, and only in the files added.
      expect(violations.filter((v) => v.rule !== rule)).toEqual([]);
      for (const v of violations) expect(Object.keys(files)).toContain(v.from.replace(/:\d+$/, ''));
    },
    60_000,
  );
});

describe('npm run lint (biome ci, the repository biome.json)', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((t) => rm(t, { recursive: true, force: true }))));

  /** `biome ci` in a git work tree holding the repository's biome.json and `files`: its exit code and output. */
  async function lint(files: Record<string, string>): Promise<{ code: number; output: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'onair-lint-'));
    dirs.push(dir);
    await copyFile(join(root, 'biome.json'), join(dir, 'biome.json'));
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    await run('git', ['init', '-q', dir]);
    return run(join(root, 'node_modules/.bin/biome'), ['ci', '--colors=off'], { cwd: dir }).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }),
    );
  }

  const clean = `export const frames = (ms: number): number => Math.round(ms / 40);\n`;

  it('passes formatted, lint-free code', async () => {
    expect(await lint({ 'src/frames.ts': clean })).toMatchObject({ code: 0 });
  }, 60_000);

  it.each([
    { breaks: 'double quotes and no semicolon', text: `export const name = "onair"\n` },
    {
      breaks: 'a line over 120 characters',
      text: `export const f = (a: number, b: number, c: number, d: number, e: number, g: number, h: number) => a + b + c + d + e + g + h;\n`,
    },
    { breaks: 'a lint rule (a debugger statement)', text: `export function f(): void {\n  debugger;\n}\n` },
  ])(
    'fails on $breaks, naming the file',
    async ({ text }) => {
      const { code, output } = await lint({ 'src/frames.ts': clean, 'src/broken.ts': text });
      expect(code).not.toBe(0);
      expect(output).toContain('src/broken.ts');
      expect(output).not.toContain('src/frames.ts');
    },
    60_000,
  );
});
