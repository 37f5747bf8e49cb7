import { builder } from '../builder.ts';

// Every root field needs a caller; fields that need more say so themselves.
builder.queryType({ authScopes: { loggedIn: true } });
builder.mutationType({ authScopes: { loggedIn: true } });
