import { builder } from '../builder.ts';

// Placeholder until the assets module lands.
builder.prismaObject('Asset', { fields: (t) => ({ id: t.exposeID('id') }) });
