import { requirePrincipal, visibleProjectIds } from '../../domain/access/access.ts';
import { builder } from '../builder.ts';

builder.prismaObject('Project', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    // A Project is only reachable by its members (or admins), who see all its channels.
    channels: t.relation('channels', { query: { where: { deletedAt: null }, orderBy: { createdAt: 'asc' } } }),
  }),
});

builder.queryField('projects', (t) =>
  t.prismaField({
    type: ['Project'],
    resolve: (query, _root, _args, ctx) => {
      const ids = visibleProjectIds(requirePrincipal(ctx.principal));
      return ctx.db.project.findMany({ ...query, where: ids ? { id: { in: ids } } : {}, orderBy: { name: 'asc' } });
    },
  }),
);
