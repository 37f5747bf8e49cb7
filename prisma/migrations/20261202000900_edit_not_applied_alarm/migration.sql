-- An edit of the playlist on air that has not reached the channel's sidecar
-- (src/domain/on-air-edits.ts): raised at the failed push, cleared when a
-- later push is delivered or the playlist is no longer on air.
ALTER TYPE "ChannelAlarmKind" ADD VALUE 'EDIT_NOT_APPLIED';
