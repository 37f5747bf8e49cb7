import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { lexicographicSortSchema } from 'graphql';
import { schema } from './src/graphql/schema/index.ts';

/**
 * Prints the schema built by the code to schema/schema.graphql (committed).
 * `npm run check:schema` fails when the file and the code disagree, or when
 * the printed schema breaks ../shared/contract/schema.graphql.
 */
const config: CodegenConfig = {
  schema: printSchemaWithDirectives(lexicographicSortSchema(schema)),
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { includeDirectives: true, sort: true },
    },
  },
  silent: true,
};

export default config;
