import { builder } from '../builder.ts';

// Placeholder until the items module lands.
builder.prismaObject('Item', { fields: (t) => ({ id: t.exposeID('id') }) });
