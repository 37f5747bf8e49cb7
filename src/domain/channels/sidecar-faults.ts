import type { SidecarEvent } from '../../protocol/sidecar-api.ts';
import type { Prisma } from '../../services/db.ts';
import { clearAlarm, raiseAlarm, type AlarmChange } from './alarms.ts';

/**
 * What a page of sidecar events says about faults, applied in the page's
 * transaction (so that an event read twice is applied once): alarms raised
 * and cleared, and the channel's errorMessage.
 *
 * errorMessage says why playout stopped when the operator did not stop it:
 * a PLAYOUT_STOPPED alarm, or a STOPPED state that follows an ERROR event or
 * an item ended with a reason (every item failed, an output that cannot be
 * restarted). A stop that follows a plain TRUNCATED (the operator's stop) or
 * a played last item (the end of a playlist that does not loop) is no fault.
 * The sidecar appends the error and the state change together, so they come
 * in one page. PLAYING again clears it.
 */
export interface FaultsApplied {
  alarms: AlarmChange[];
  /** undefined: unchanged; null: cleared; a string: set. */
  errorMessage?: string | null;
  /** Assets of items that failed at air time (their staged file may be gone). */
  failedAssetIds: string[];
}

export async function applyFaultEvents(
  tx: Prisma.TransactionClient,
  channelId: string,
  events: SidecarEvent[],
): Promise<FaultsApplied> {
  const out: FaultsApplied = { alarms: [], failedAssetIds: [] };
  let cause: string | null = null;
  for (const event of events) {
    switch (event.kind) {
      case 'ALARM_RAISED': {
        const change = await raiseAlarm(tx, channelId, event.alarm, event.message, new Date(event.at));
        if (change) out.alarms.push(change);
        if (event.alarm === 'PLAYOUT_STOPPED') out.errorMessage = `playout stopped: ${event.message}`;
        break;
      }
      case 'ALARM_CLEARED': {
        const change = await clearAlarm(tx, channelId, event.alarm, new Date(event.at));
        if (change) out.alarms.push(change);
        break;
      }
      case 'ERROR':
        cause = event.message;
        break;
      case 'ITEM_ON_AIR':
        cause = null;
        break;
      case 'ITEM_ENDED':
        if (event.how === 'FAILED') out.failedAssetIds.push(event.assetId);
        if (event.reason) cause = event.reason;
        else if (event.how !== 'FAILED') cause = null;
        break;
      case 'STATE_CHANGED':
        if (event.state === 'STOPPED' && cause !== null) out.errorMessage = `playout stopped: ${cause}`;
        if (event.state === 'PLAYING') {
          out.errorMessage = null;
          cause = null;
        }
        break;
    }
  }
  return out;
}

/**
 * Writes the channel's errorMessage as the page left it, on the sidecar the
 * page came from and only while it runs; true when it changed.
 */
export async function writeErrorMessage(
  tx: Prisma.TransactionClient,
  channelId: string,
  sidecarRef: string,
  errorMessage: string | null | undefined,
): Promise<boolean> {
  if (errorMessage === undefined) return false;
  const count = await tx.$executeRaw`
    UPDATE channels SET error_message = ${errorMessage}, updated_at = now()
     WHERE id = ${channelId}::uuid AND sidecar_ref = ${sidecarRef} AND status = 'RUNNING'
       AND error_message IS DISTINCT FROM ${errorMessage}`;
  return count > 0;
}
