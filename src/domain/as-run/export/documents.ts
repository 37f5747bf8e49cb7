import { randomUUID } from 'node:crypto';
import type { Sql } from '../../../services/db.ts';
import type { AsRunScope } from '../as-run.ts';
import {
  BXF_FOOTER,
  BXF_SCHEDULE_END,
  bxfAsRun,
  bxfHeader,
  bxfScheduleStart,
  frameClock,
  type BxfMessageInfo,
} from './bxf.ts';
import { CSV_HEADER, csvRow } from './csv.ts';
import { listScopeChannels, readChannelOldestFirst, readChannelsOldestFirst, type ExportWindow } from './read.ts';

/*
 * An export as a sequence of text chunks, one per batch of rows, read only as
 * fast as the consumer asks for the next one. The first chunk comes after the
 * first batch is read, so that a failing database is known before anything is
 * sent (an HTTP error status instead of a cut-off file).
 */

/** RFC 4180 CSV of the scope's entries in the window, oldest first across channels. */
export async function* csvDocument(sql: Sql, scope: AsRunScope, window: ExportWindow): AsyncGenerator<string> {
  const channels = await listScopeChannels(sql, scope);
  let pending = CSV_HEADER;
  for await (const batch of readChannelsOldestFirst(sql, channels, window)) {
    yield pending + batch.map(csvRow).join('');
    pending = '';
  }
  if (pending) yield pending;
}

/**
 * A BXF as-run message: one Schedule per channel (a BXF Schedule belongs to one
 * channel), channels by name, each channel's entries oldest first. A channel
 * asked for by id gets its Schedule even with no entry in the window; across
 * channels, only those with entries appear.
 */
export async function* bxfDocument(
  sql: Sql,
  scope: AsRunScope,
  window: ExportWindow,
  message: BxfMessageInfo,
): AsyncGenerator<string> {
  const channels = await listScopeChannels(sql, scope);
  let pending = bxfHeader(message);
  for (const channel of channels) {
    const clock = frameClock(channel.videoFormat);
    let open = scope.kind === 'channel';
    if (open) pending += bxfScheduleStart(channel, window, randomUUID());
    for await (const batch of readChannelOldestFirst(sql, channel, window)) {
      if (!open) {
        pending += bxfScheduleStart(channel, window, randomUUID());
        open = true;
      }
      yield pending + batch.map((row) => bxfAsRun(row, clock)).join('');
      pending = '';
    }
    if (open) pending += BXF_SCHEDULE_END;
  }
  yield pending + BXF_FOOTER;
}
