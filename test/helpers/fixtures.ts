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
    data: {
      name: `ch-${uniq()}`,
      projectId,
      outputType: 'NDI',
      output: { name: 'x' },
      videoFormat: '1080i5000',
      ...extra,
    },
  });
}

/**
 * A base for a test's sidecar ports (SIDECAR_PORT_BASE), with `count` ports after it: random, so
 * that test files running side by side rarely share one, and below Linux's ephemeral range
 * (32768–60999), where the machine's own connections (PostgreSQL, Redis, Docker) hold local ports
 * that a sidecar could then not listen on.
 */
export function sidecarPortBase(count: number): number {
  return 20_000 + Math.floor(Math.random() * (12_000 - count));
}

/** A port for a server or receiver a test starts, in the same range as `sidecarPortBase` and for the same reason. */
export function testPort(): number {
  return sidecarPortBase(1);
}
