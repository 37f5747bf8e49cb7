import path from 'node:path';
import type { CodegenConfig } from '@graphql-codegen/cli';

const root = path.resolve(import.meta.dirname, '..');

/**
 * The console's operations (src/operations/*.graphql) compiled against the printed schema
 * (schema/schema.graphql) into typed documents in src/gql/ (generated, not committed).
 * An operation the schema does not serve fails this, so `npm run generate`, the build and
 * `npm test` fail with it.
 */
const config: CodegenConfig = {
  schema: path.join(root, 'schema/schema.graphql'),
  documents: [path.join(root, 'console/src/operations/**/*.graphql')],
  generates: {
    [path.join(root, 'console/src/gql/')]: {
      preset: 'client',
      // Strings, not ASTs: the console sends the text as is and needs no graphql runtime.
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string' },
      },
    },
  },
  errorsOnly: true,
};

export default config;
