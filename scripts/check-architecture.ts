// onair's design rules, checked over a source tree: the import rules of
// .dependency-cruiser.cjs, configuration read in the config modules only, and
// no clock read in the pure planner (src/schedule).
// `npm run check:architecture` prints what breaks them; test/architecture.test.ts
// runs the same check in `npm test`.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const repoRoot = resolve(import.meta.dirname, '..');

export interface Violation {
  rule: string;
  /** Paths relative to the checked root. */
  from: string;
  to: string;
}

/** The only modules that read the environment: each process parses it once, where its settings are documented. */
export const ENV_READERS = ['src/config.ts', 'src/sidecar/config.ts'];

/** Import rules (.dependency-cruiser.cjs) over `<root>/src` and the operator console's `<root>/console/src`. */
export async function importViolations(root: string): Promise<Violation[]> {
  const config = require(join(repoRoot, '.dependency-cruiser.cjs')) as IConfiguration;
  const roots = existsSync(join(root, 'console/src')) ? ['src', 'console/src'] : ['src'];
  const { output } = await cruise(roots, {
    ...config.options,
    baseDir: root,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  });
  const result = output as ICruiseResult;
  return (result.summary.violations ?? []).map((v) => ({
    rule: v.rule.name,
    from: v.from,
    to: v.cycle ? v.cycle.map((step) => step.name).join(' → ') : v.to,
  }));
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

/**
 * Reads of the environment in `<root>/src` outside ENV_READERS: `process.env`
 * (also `process['env']` and `globalThis.process.env`) and `env` imported from
 * node:process. Read from the syntax tree, so comments and strings do not count.
 */
export async function envViolations(root: string): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const file of await sourceFiles(join(root, 'src'))) {
    const rel = relative(root, file).split('\\').join('/');
    if (ENV_READERS.includes(rel)) continue;
    const source = ts.createSourceFile(file, await readFile(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const report = (node: ts.Node) => {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push({ rule: 'env-in-config-only', from: `${rel}:${line + 1}`, to: node.getText(source) });
    };
    const isProcess = (e: ts.Expression) =>
      (ts.isIdentifier(e) && e.text === 'process') ||
      (ts.isPropertyAccessExpression(e) && e.name.text === 'process' && e.expression.getText(source) === 'globalThis');
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && node.name.text === 'env' && isProcess(node.expression)) report(node);
      else if (
        ts.isElementAccessExpression(node) &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        node.argumentExpression.text === 'env' &&
        isProcess(node.expression)
      )
        report(node);
      else if (
        ts.isImportDeclaration(node) &&
        ts.isStringLiteral(node.moduleSpecifier) &&
        /^(node:)?process$/.test(node.moduleSpecifier.text)
      ) {
        const bindings = node.importClause?.namedBindings;
        if (
          bindings &&
          ts.isNamedImports(bindings) &&
          bindings.elements.some((b) => (b.propertyName ?? b.name).text === 'env')
        )
          report(node);
      } else if (
        ts.isVariableDeclaration(node) &&
        ts.isObjectBindingPattern(node.name) &&
        node.initializer &&
        isProcess(node.initializer)
      ) {
        // const { env } = process
        if (node.name.elements.some((b) => (b.propertyName ?? b.name).getText(source) === 'env')) report(node);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** Folders whose code takes the time as an argument: the same input plans the same frames in every process. */
export const CLOCK_FREE = ['src/schedule/'];

/**
 * Reads of the clock in CLOCK_FREE folders: `Date.now()`, `new Date()` with no
 * argument, `performance.now()`. Read from the syntax tree, like envViolations.
 */
export async function clockViolations(root: string): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const dir of CLOCK_FREE) {
    const files = await sourceFiles(join(root, dir)).catch(() => []);
    for (const file of files) {
      const rel = relative(root, file).split('\\').join('/');
      const source = ts.createSourceFile(file, await readFile(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        const text = ts.isCallExpression(node) ? node.expression.getText(source) : '';
        const clock =
          (ts.isCallExpression(node) && /^(Date\.now|performance\.now)$/.test(text)) ||
          (ts.isNewExpression(node) &&
            node.expression.getText(source) === 'Date' &&
            (node.arguments?.length ?? 0) === 0);
        if (clock) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
          found.push({ rule: 'clock-passed-in', from: `${rel}:${line + 1}`, to: node.getText(source) });
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return found;
}

export async function checkArchitecture(root: string): Promise<Violation[]> {
  return [...(await importViolations(root)), ...(await envViolations(root)), ...(await clockViolations(root))];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const violations = await checkArchitecture(repoRoot);
  for (const v of violations) console.error(`${v.rule}: ${v.from} → ${v.to}`);
  if (violations.length > 0) {
    console.error(
      `${violations.length} violation(s) of the design rules (see .dependency-cruiser.cjs and README, Layout)`,
    );
    process.exit(1);
  }
  console.log('architecture ok: import rules, configuration reads and clock reads hold');
}
