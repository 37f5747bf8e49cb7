import { effectiveDurationMs } from '../../domain/playlists/playlists.ts';
import { TRIGGERS } from '../../schedule/model.ts';
import { builder } from '../builder.ts';
import { TransitionEnum } from './items.ts';

// An event of a schedule as stored (its plan is in schedule-plan.ts).

export const ScheduleTriggerEnum = builder.enumType('ScheduleTrigger', { values: TRIGGERS });

builder.prismaObject('ScheduleEvent', {
  fields: (t) => ({
    id: t.exposeID('id'),
    position: t.exposeInt('position', { description: '0-based place in air order.' }),
    trigger: t.expose('trigger', { type: ScheduleTriggerEnum }),
    at: t.expose('at', { type: 'DateTime', nullable: true, description: 'The time of a HARD or SOFT event.' }),
    asset: t.relation('asset', { nullable: true, description: 'A clip: its asset. Null for a block.' }),
    playlist: t.relation('playlist', {
      nullable: true,
      description: "A block: the channel's playlist it airs, its items as they are at air time. Null for a clip.",
    }),
    inPointMs: t.exposeInt('inPointMs', { nullable: true }),
    outPointMs: t.exposeInt('outPointMs', { nullable: true }),
    transition: t.expose('transition', { type: TransitionEnum }),
    transitionMs: t.exposeInt('transitionMs'),
    durationMs: t.int({
      nullable: true,
      description: "A clip's on-air duration (out - in, else the asset's from in); null for a block.",
      select: { inPointMs: true, outPointMs: true, asset: { select: { durationMs: true } } },
      resolve: (event) => (event.asset ? effectiveDurationMs({ ...event, asset: event.asset }) : null),
    }),
  }),
});
