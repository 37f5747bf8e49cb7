-- A channel's schedule with nothing to play (no usable filler): its sidecar
-- holds black and raises this until a clip or filler can air again.
ALTER TYPE "ChannelAlarmKind" ADD VALUE 'SCHEDULE_HOLD';
