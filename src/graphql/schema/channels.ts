import { builder } from '../builder.ts';

builder.prismaObject('Channel', { fields: (t) => ({ id: t.exposeID('id') }) });
