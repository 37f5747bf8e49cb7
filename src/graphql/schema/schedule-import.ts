import { z } from 'zod';
import { type BxfImportReport, importBxfSchedule } from '../../domain/schedules/bxf/import.ts';
import type { BxfProblem } from '../../domain/schedules/bxf/parse.ts';
import { builder } from '../builder.ts';

const BxfImportProblem = builder.objectRef<BxfProblem>('BxfImportProblem').implement({
  description: 'Why the document, or one event of it, keeps the schedule from being imported.',
  fields: (t) => ({
    eventId: t.exposeString('eventId', {
      nullable: true,
      description: "The event's EventId as the document gives it; null for the document as a whole.",
    }),
    index: t.exposeInt('index', {
      nullable: true,
      description: "The event's 1-based position in the document (secondary events counted).",
    }),
    reason: t.exposeString('reason'),
  }),
});

const BxfImportResult = builder.objectRef<BxfImportReport>('BxfImportResult').implement({
  fields: (t) => ({
    imported: t.exposeBoolean('imported', {
      description: 'True when the schedule changed; false when `problems` says why nothing did.',
    }),
    broadcastDate: t.exposeString('broadcastDate', { nullable: true, description: 'The day imported (YYYY-MM-DD).' }),
    eventsRead: t.exposeInt('eventsRead', { description: 'Primary events read from the document.' }),
    eventsIgnored: t.exposeInt('eventsIgnored', {
      description: 'Secondary events, macros, comments and program or break headers without content: left out.',
    }),
    eventsImported: t.exposeInt('eventsImported', {
      description: "The document's events written: those still to start.",
    }),
    eventsReplaced: t.exposeInt('eventsReplaced', {
      description: "The channel's events of the day, not yet started, that they replaced.",
    }),
    version: t.exposeInt('version', { nullable: true, description: "The schedule's version after the import." }),
    problems: t.field({ type: [BxfImportProblem], resolve: (r) => r.problems }),
  }),
});

builder.mutationField('importBxfSchedule', (t) =>
  t.field({
    type: BxfImportResult,
    description:
      "Imports a broadcast day from the traffic system: a SMPTE ST 2021 (BXF) schedule message for the channel. All or nothing: every event is matched to an asset of the channel's project (by house ID, else by clip name) or reported in `problems`, and then the day's events still to start are replaced by the document's, in one change; what aired and the event on air stay. EDITOR.",
    args: {
      channelId: t.arg.id({ required: true }),
      document: t.arg.string({
        required: true,
        validate: z.string().min(1, 'must not be empty').max(8_000_000, 'must be at most 8,000,000 characters'),
      }),
    },
    resolve: (_root, args, ctx) => importBxfSchedule(ctx, args.channelId, args.document),
  }),
);
