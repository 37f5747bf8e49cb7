import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Services } from '../../../services/index.ts';
import { setAssetMedia } from './media.ts';

/** What Item.mediaError says of a staged file that left the volume. */
export const MISSING_MEDIA_ERROR = 'the staged file is missing from the media volume: stage it again (restageItem)';

/** Files looked at side by side: a volume on a network share answers each stat slowly. */
const CONCURRENCY = 32;

type MissingServices = Pick<Services, 'db' | 'queues' | 'pubsub' | 'log' | 'config'>;

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (err) {
    // Only a file known gone is missing; a volume that cannot be read proves nothing.
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

/**
 * Moves READY assets whose staged file is gone from MEDIA_VOLUME_DIR to
 * ERROR (with MISSING_MEDIA_ERROR), so that Item.mediaStatus and
 * Playlist.ready stop saying READY; restaging makes them READY again. Only
 * the given assets, or every READY one. Each move is conditional on the
 * asset still being READY with the same staged path (a restage in between
 * wins). Returns the assets moved.
 */
export async function markMissingMedia(services: MissingServices, assetIds?: string[]): Promise<string[]> {
  if (assetIds && assetIds.length === 0) return [];
  const assets = await services.db.asset.findMany({
    where: { mediaStatus: 'READY', mediaPath: { not: null }, ...(assetIds ? { id: { in: assetIds } } : {}) },
    select: { id: true, mediaPath: true },
  });
  const missing: string[] = [];
  for (let i = 0; i < assets.length; i += CONCURRENCY) {
    await Promise.all(
      assets.slice(i, i + CONCURRENCY).map(async (asset) => {
        const mediaPath = asset.mediaPath as string;
        if (await exists(path.resolve(services.config.mediaVolumeDir, mediaPath))) return;
        const moved = await setAssetMedia(
          services,
          asset.id,
          { mediaStatus: 'ERROR', mediaError: MISSING_MEDIA_ERROR },
          { mediaStatus: 'READY', mediaPath },
        );
        if (moved) {
          services.log.warn({ assetId: asset.id, mediaPath }, 'staged media missing from the volume');
          missing.push(asset.id);
        }
      }),
    );
  }
  return missing;
}
