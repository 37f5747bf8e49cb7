import type { Prisma } from '../../src/services/db.ts';
import type { Services } from '../../src/services/index.ts';

/** A short random suffix for names that must not collide within a test database. */
export const uniq = () => Math.random().toString(36).slice(2, 8);

/**
 * A channel written straight to the database (fast fixture): an NDI output
 * unless `extra` says otherwise; project null makes it admin-only.
 */
export function insertChannel(
  services: Services,
  projectId: string | null,
  extra: Partial<Prisma.ChannelUncheckedCreateInput> = {},
) {
  return services.db.channel.create({
    data: { name: `ch-${uniq()}`, projectId, outputType: 'NDI', output: { name: 'x' }, videoFormat: '1080i5000', ...extra },
  });
}
