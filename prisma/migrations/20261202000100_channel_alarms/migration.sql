-- Alarms: faults an operator must see at once, per channel, on every replica.
-- One alarm of a kind is up at a time (the partial unique index); a cleared
-- alarm stays as history. Raise and clear are single conditional statements
-- (src/domain/alarms.ts), so an event read twice changes nothing.
CREATE TYPE "ChannelAlarmKind" AS ENUM ('OUTPUT_LOST', 'ENGINE_BEHIND', 'PLAYOUT_STOPPED', 'MEDIA_MISSING', 'SIDECAR_UNREACHABLE', 'NODE_OFFLINE');

CREATE TABLE "channel_alarms" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "channel_id" UUID NOT NULL,
    "kind" "ChannelAlarmKind" NOT NULL,
    "message" TEXT NOT NULL,
    "raised_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "cleared_at" TIMESTAMPTZ(3),
    CONSTRAINT "channel_alarms_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "channel_alarms_channel_id_fkey" FOREIGN KEY ("channel_id") REFERENCES "channels"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE UNIQUE INDEX "channel_alarms_up_key" ON "channel_alarms" ("channel_id", "kind") WHERE "cleared_at" IS NULL;
CREATE INDEX "channel_alarms_channel_id_raised_at_idx" ON "channel_alarms" ("channel_id", "raised_at");

-- Why a FAILED or TRUNCATED entry ended (the sidecar's reason, or the control plane's own close).
ALTER TABLE "as_run" ADD COLUMN "reason" TEXT;
