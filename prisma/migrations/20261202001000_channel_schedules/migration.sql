-- The wall-clock schedule of a channel (docs/schedule.md): its settings and
-- version, its events in air order and its filler pool.

CREATE TYPE "ScheduleTrigger" AS ENUM ('HARD', 'SOFT', 'FOLLOW', 'MANUAL');

-- One row per channel that has a schedule. Every committed edit locks this row
-- (FOR UPDATE) and bumps its version in the same transaction, so concurrent
-- edits of one schedule serialize and each gets its own version.
CREATE TABLE "schedules" (
    "channel_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "time_zone" TEXT NOT NULL DEFAULT 'UTC',
    "day_start" TEXT NOT NULL DEFAULT '06:00',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "schedules_pkey" PRIMARY KEY ("channel_id"),
    CONSTRAINT "schedules_version_check" CHECK ("version" >= 0),
    CONSTRAINT "schedules_day_start_check" CHECK ("day_start" ~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'),
    CONSTRAINT "schedules_channel_id_fkey" FOREIGN KEY ("channel_id")
        REFERENCES "channels"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- A block names a playlist of the schedule's own channel: this key lets the
-- events' foreign key say so.
ALTER TABLE "playlists" ADD CONSTRAINT "playlists_id_channel_id_key" UNIQUE ("id", "channel_id");

CREATE TABLE "schedule_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "channel_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "trigger" "ScheduleTrigger" NOT NULL,
    "at" TIMESTAMPTZ(3),
    -- Content: one asset with in/out points and a transition, as a playlist item; or a playlist as a block.
    "asset_id" UUID,
    "playlist_id" UUID,
    "in_point_ms" INTEGER,
    "out_point_ms" INTEGER,
    "transition" "Transition" NOT NULL DEFAULT 'CUT',
    "transition_ms" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "schedule_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "schedule_events_position_check" CHECK ("position" >= 0),
    -- HARD and SOFT start at a time; FOLLOW and MANUAL have none.
    CONSTRAINT "schedule_events_at_check" CHECK (("trigger" IN ('HARD', 'SOFT')) = ("at" IS NOT NULL)),
    CONSTRAINT "schedule_events_content_check" CHECK (("asset_id" IS NULL) <> ("playlist_id" IS NULL)),
    CONSTRAINT "schedule_events_block_check" CHECK ("playlist_id" IS NULL OR (
        "in_point_ms" IS NULL AND "out_point_ms" IS NULL AND "transition" = 'CUT' AND "transition_ms" = 0)),
    CONSTRAINT "schedule_events_points_check" CHECK (
        ("in_point_ms" IS NULL OR "in_point_ms" >= 0)
        AND ("out_point_ms" IS NULL OR "out_point_ms" > COALESCE("in_point_ms", 0))
        AND "transition_ms" >= 0),
    CONSTRAINT "schedule_events_channel_id_fkey" FOREIGN KEY ("channel_id")
        REFERENCES "schedules"("channel_id") ON DELETE CASCADE ON UPDATE CASCADE,
    -- Assets and playlists a schedule airs cannot be deleted under it.
    CONSTRAINT "schedule_events_asset_id_fkey" FOREIGN KEY ("asset_id")
        REFERENCES "assets"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "schedule_events_playlist_fkey" FOREIGN KEY ("playlist_id", "channel_id")
        REFERENCES "playlists"("id", "channel_id") ON DELETE RESTRICT ON UPDATE CASCADE
);
-- Dense air order per channel: deferred so that one transaction can shift a whole run.
ALTER TABLE "schedule_events" ADD CONSTRAINT "schedule_events_channel_position_key"
    UNIQUE ("channel_id", "position") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "schedule_events_asset_id_idx" ON "schedule_events"("asset_id") WHERE "asset_id" IS NOT NULL;
CREATE INDEX "schedule_events_playlist_id_idx" ON "schedule_events"("playlist_id") WHERE "playlist_id" IS NOT NULL;

-- The filler pool, played in turn wherever nothing is scheduled. An asset may appear more than once.
CREATE TABLE "schedule_filler" (
    "channel_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "asset_id" UUID NOT NULL,
    CONSTRAINT "schedule_filler_pkey" PRIMARY KEY ("channel_id", "position"),
    CONSTRAINT "schedule_filler_position_check" CHECK ("position" >= 0),
    CONSTRAINT "schedule_filler_channel_id_fkey" FOREIGN KEY ("channel_id")
        REFERENCES "schedules"("channel_id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "schedule_filler_asset_id_fkey" FOREIGN KEY ("asset_id")
        REFERENCES "assets"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "schedule_filler_asset_id_idx" ON "schedule_filler"("asset_id");
