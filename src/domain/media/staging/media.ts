import type { MediaStatus } from '../../../../prisma/generated/client/enums.ts';
import type { DomainContext } from '../../shared/context.ts';
import type { Prisma } from '../../../services/db.ts';
import type { Services } from '../../../services/index.ts';
import { projectKey, type AssetMediaEvent } from '../../../services/pubsub.ts';
import { assertAccess, canSee, requirePrincipal } from '../../access/access.ts';
import { notFound } from '../../../errors.ts';
import { parseId } from '../../shared/ids.ts';
import { mediaChanged } from '../../schedules/schedule-content.ts';

type MediaServices = Pick<Services, 'db' | 'queues' | 'pubsub' | 'log'>;

/** Sets an asset's media state and tells the project's event bus, after the write. */
export async function setAssetMedia(
  services: MediaServices,
  assetId: string,
  data: Prisma.AssetUpdateInput & { mediaStatus: MediaStatus },
  where: Prisma.AssetWhereInput = {},
): Promise<boolean> {
  const rows = await services.db.asset.updateManyAndReturn({
    where: { id: assetId, ...where },
    data,
    select: { projectId: true, mediaError: true },
  });
  if (rows.length === 0) return false;
  publishAssetMedia(services, rows[0].projectId, { assetId, status: data.mediaStatus, error: rows[0].mediaError });
  // Media failed or gone (staging, the media check): the schedules airing it plan filler for it from now.
  if (data.mediaStatus === 'ERROR') await mediaChanged(services, assetId);
  return true;
}

export function publishAssetMedia(
  services: Pick<Services, 'pubsub'>,
  projectId: string | null,
  event: AssetMediaEvent,
): void {
  services.pubsub.publish('assetMedia', projectKey(projectId), event);
}

/**
 * Queues the staging of an asset an item was just added for, unless it is
 * staged already. A queue that cannot be reached loses nothing: the worker's
 * sweep at start-up queues every asset still waiting.
 */
export async function requestStaging(
  services: MediaServices,
  asset: { id: string; mediaStatus: MediaStatus },
): Promise<void> {
  if (asset.mediaStatus === 'READY') return;
  try {
    await services.queues.stageAsset(asset.id);
  } catch (err) {
    services.log.warn(
      { err: (err as Error).message, assetId: asset.id },
      'could not queue staging; the worker sweep will',
    );
  }
}

/**
 * restageItem: stages the item's asset again (all items of the asset share
 * its copy). A failed asset goes back to PENDING; a staged one keeps READY
 * while the worker verifies its file; one being copied is left to its job.
 */
export async function restageItem(
  ctx: DomainContext,
  rawId: string,
  query: { include?: Prisma.ItemInclude; select?: Prisma.ItemSelect },
) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  const item = await ctx.db.item.findFirst({
    where: { id, playlist: { channel: { deletedAt: null } } },
    select: { assetId: true, playlist: { select: { channel: { select: { projectId: true } } } } },
  });
  const projectId = item?.playlist.channel.projectId ?? null;
  if (!item || !canSee(p, projectId)) throw notFound('item');
  assertAccess(p, projectId, 'OPERATOR', 'item');
  await setAssetMedia(
    ctx.services,
    item.assetId,
    { mediaStatus: 'PENDING', mediaError: null },
    { mediaStatus: 'ERROR' },
  );
  await ctx.services.queues.stageAsset(item.assetId);
  return ctx.db.item.findUniqueOrThrow({ ...query, where: { id } });
}

/** Assets that items wait for (PENDING, or STAGING by a worker that died): what a sweep queues. */
export async function assetsAwaitingStaging(services: Pick<Services, 'db'>): Promise<string[]> {
  const rows = await services.db.asset.findMany({
    where: { mediaStatus: { in: ['PENDING', 'STAGING'] }, items: { some: {} } },
    select: { id: true },
  });
  return rows.map((r) => r.id);
}
