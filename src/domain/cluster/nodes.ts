import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import { conflict, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Prisma } from '../../services/db.ts';
import { ROLE_RANK } from '../../auth/principal.ts';
import { requirePrincipal } from '../access/access.ts';
import { parseId } from '../shared/ids.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../shared/validation.ts';
import { badInput } from '../../errors.ts';

type NodeQuery = { include?: Prisma.ClusterNodeInclude; select?: Prisma.ClusterNodeSelect };

/** Most DeckLink cards carry 1 to 8 devices; a node with several cards stays well under this. */
export const MAX_DECKLINK_DEVICES = 64;

export const hostnameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
    'must be a valid host name',
  );

/** unix:///path/to/docker.sock or tcp://host:port (TLS material comes from configuration). */
export const dockerHostSchema = z
  .string()
  .trim()
  .max(500)
  .refine((value) => {
    try {
      const url = new URL(value);
      if (url.protocol === 'unix:') return url.pathname.length > 1 && !url.host;
      if (url.protocol === 'tcp:') return url.hostname !== '' && url.port !== '';
      return false;
    } catch {
      return false;
    }
  }, 'must be unix:///path/to/docker.sock or tcp://host:port');

export const labelSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._=/-]{0,62})$/i, 'each label must be 1-63 letters, digits or . _ = / -');

/** Cluster nodes are infrastructure: admins manage them; editors see them to place channels. */
export function canListNodes(p: Principal): boolean {
  return p.isAdmin || [...p.roles.values()].some((r) => ROLE_RANK[r] >= ROLE_RANK.EDITOR);
}

export function listNodes(ctx: DomainContext, query: NodeQuery) {
  if (!canListNodes(requirePrincipal(ctx.principal))) return [];
  return ctx.db.clusterNode.findMany({ ...query, orderBy: { hostname: 'asc' } });
}

/** A node named by an input (channel placement): NOT_FOUND unless the caller may list nodes. */
export async function findVisibleNode(ctx: DomainContext, field: string, rawId: string) {
  const id = parseId(field, rawId);
  const node = canListNodes(requirePrincipal(ctx.principal))
    ? await ctx.db.clusterNode.findUnique({ where: { id } })
    : null;
  if (!node) throw notFound('node');
  return node;
}

export async function registerNode(
  ctx: DomainContext,
  input: { hostname: string; dockerHost?: string | null; labels?: string[] | null; decklinkDevices?: number | null },
  query: NodeQuery,
) {
  const labels = [...new Set(input.labels ?? [])].sort();
  try {
    return await ctx.db.clusterNode.create({
      ...query,
      data: {
        hostname: input.hostname.toLowerCase(),
        dockerHost: input.dockerHost ?? null,
        labels,
        decklinkDevices: input.decklinkDevices ?? 0,
      },
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw badInput('input.hostname', 'a node with this host name is registered');
    throw err;
  }
}

/**
 * Removes a node no channel is placed on. The foreign key from channels makes
 * this safe against a concurrent placement: no check-then-act.
 */
export async function removeNode(ctx: DomainContext, rawId: string): Promise<string> {
  const id = parseId('id', rawId);
  try {
    const { count } = await ctx.db.clusterNode.deleteMany({ where: { id } });
    if (count === 0) throw notFound('node');
  } catch (err) {
    if (isForeignKeyViolation(err)) {
      throw conflict('channels are placed on this node: move or delete them first');
    }
    throw err;
  }
  return id;
}
