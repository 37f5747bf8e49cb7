import type { ALARM_KINDS } from '../../protocol/sidecar-api.ts';
import { builder } from '../builder.ts';

export const ChannelAlarmKindEnum = builder.enumType('ChannelAlarmKind', {
  values: {
    OUTPUT_LOST: {
      description:
        'The output (SRT/RTMP receiver, network) is gone; playout goes on and the output is being reconnected.',
    },
    ENGINE_BEHIND: { description: 'The engine fell behind real time and dropped frames to catch up.' },
    PLAYOUT_STOPPED: { description: 'Playout stopped for a reason other than the operator (errorMessage says why).' },
    MEDIA_MISSING: {
      description: 'A clip was missing or unreadable at air time; it was logged FAILED and the next one played.',
    },
    SIDECAR_UNREACHABLE: { description: "The control plane cannot reach the channel's sidecar." },
    NODE_OFFLINE: { description: 'The node the channel runs on does not answer.' },
    EDIT_NOT_APPLIED: {
      description:
        "An edit of the playlist on air has not reached the channel's sidecar, which still airs the list it had; it is sent again until it arrives.",
    },
    SCHEDULE_HOLD: {
      description:
        'The schedule has nothing to play (no usable filler): the output holds black until something can air.',
    },
  } satisfies Record<(typeof ALARM_KINDS)[number], { description: string }>,
});

builder.prismaObject('ChannelAlarm', {
  description: 'A fault of a channel that is up now.',
  fields: (t) => ({
    kind: t.expose('kind', { type: ChannelAlarmKindEnum }),
    message: t.exposeString('message'),
    since: t.expose('raisedAt', { type: 'DateTime' }),
  }),
});

// A relation, so that a list of channels reads the alarms of all of them in one statement.
builder.prismaObjectFields('Channel', (t) => ({
  alarms: t.relation('alarms', {
    description: 'The alarms up now, oldest first; empty when the channel is fault-free.',
    query: { where: { clearedAt: null }, orderBy: [{ raisedAt: 'asc' }, { kind: 'asc' }] },
  }),
}));
