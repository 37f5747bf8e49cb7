import path from 'node:path';
import { fileURLToPath } from 'node:url';

// This module sits directly in src/, as the bundles of `npm run build` sit directly in dist/:
// from either, the project's root is one level up.
const here = fileURLToPath(import.meta.url);

/** True when running the production build (dist/*.js), false under tsx or vitest (the TypeScript sources). */
export const fromBuild = !here.endsWith('.ts');

/** The project's root: package.json, prisma/, src/ and dist/ are in it. */
export const projectRoot = path.resolve(path.dirname(here), '..');
