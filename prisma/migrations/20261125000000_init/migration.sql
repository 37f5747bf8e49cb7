-- onair initial schema. Names follow Prisma's conventions so that
-- `prisma migrate diff` sees the model; the extras at the end are what
-- Prisma's schema language cannot express.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE "Role" AS ENUM ('VIEWER', 'OPERATOR', 'EDITOR');
CREATE TYPE "OutputType" AS ENUM ('DECKLINK', 'NDI', 'SRT', 'RTMP');
CREATE TYPE "ChannelStatus" AS ENUM ('STOPPED', 'STARTING', 'RUNNING', 'STOPPING', 'ERROR');
CREATE TYPE "Transition" AS ENUM ('CUT', 'MIX', 'PUSH', 'WIPE', 'SLIDE');
CREATE TYPE "MediaStatus" AS ENUM ('PENDING', 'STAGING', 'READY', 'ERROR');
CREATE TYPE "AsRunStatus" AS ENUM ('PLAYED', 'SKIPPED', 'TRUNCATED', 'FAILED');

CREATE TABLE "projects" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "projects_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "projects_name_key" ON "projects"("name");

CREATE TABLE "users" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "email" TEXT,
    "is_admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

CREATE TABLE "memberships" (
    "project_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "role" "Role" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "memberships_pkey" PRIMARY KEY ("project_id", "user_id")
);
CREATE INDEX "memberships_user_id_idx" ON "memberships"("user_id");

CREATE TABLE "api_tokens" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");
CREATE INDEX "api_tokens_user_id_idx" ON "api_tokens"("user_id");

CREATE TABLE "cluster_nodes" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "hostname" TEXT NOT NULL,
    "docker_host" TEXT,
    "labels" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "decklink_devices" INTEGER NOT NULL DEFAULT 0,
    "online" BOOLEAN NOT NULL DEFAULT false,
    "last_seen_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "cluster_nodes_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "cluster_nodes_decklink_devices_check" CHECK ("decklink_devices" >= 0)
);
CREATE UNIQUE INDEX "cluster_nodes_hostname_key" ON "cluster_nodes"("hostname");

CREATE TABLE "assets" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "project_id" UUID,
    "filename" TEXT NOT NULL,
    "storage_key" TEXT NOT NULL,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "assets_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "assets_duration_ms_check" CHECK ("duration_ms" IS NULL OR "duration_ms" > 0)
);
CREATE INDEX "assets_project_id_created_at_id_idx" ON "assets"("project_id", "created_at" DESC, "id" DESC);

CREATE TABLE "channels" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "project_id" UUID,
    "node_id" UUID,
    "output_type" "OutputType" NOT NULL,
    "output" JSONB NOT NULL,
    "decklink_device" INTEGER,
    "video_format" TEXT NOT NULL,
    "status" "ChannelStatus" NOT NULL DEFAULT 'STOPPED',
    "error_message" TEXT,
    "restart_count" INTEGER NOT NULL DEFAULT 0,
    "last_restart_at" TIMESTAMPTZ(3),
    "last_heartbeat_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),
    CONSTRAINT "channels_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "channels_decklink_device_check" CHECK (("output_type" = 'DECKLINK') = ("decklink_device" IS NOT NULL))
);

CREATE TABLE "channel_secrets" (
    "channel_id" UUID NOT NULL,
    "ciphertext" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "channel_secrets_pkey" PRIMARY KEY ("channel_id")
);

CREATE TABLE "playlists" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "channel_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "loop" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "playlists_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "playlists_channel_id_created_at_idx" ON "playlists"("channel_id", "created_at");

CREATE TABLE "items" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "playlist_id" UUID NOT NULL,
    "asset_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "in_point_ms" INTEGER,
    "out_point_ms" INTEGER,
    "transition" "Transition" NOT NULL DEFAULT 'CUT',
    "transition_ms" INTEGER NOT NULL DEFAULT 0,
    "media_status" "MediaStatus" NOT NULL DEFAULT 'PENDING',
    "media_error" TEXT,
    "media_path" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "items_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "items_position_check" CHECK ("position" >= 0),
    CONSTRAINT "items_points_check" CHECK (
        ("in_point_ms" IS NULL OR "in_point_ms" >= 0)
        AND ("out_point_ms" IS NULL OR "out_point_ms" > COALESCE("in_point_ms", 0))
        AND "transition_ms" >= 0)
);
CREATE INDEX "items_asset_id_idx" ON "items"("asset_id");
-- Dense positions: deferred so that one transaction can shift a whole run.
ALTER TABLE "items" ADD CONSTRAINT "items_playlist_position_key"
    UNIQUE ("playlist_id", "position") DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE "as_run" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "channel_id" UUID NOT NULL,
    "playlist_id" UUID,
    "item_id" UUID,
    "asset_id" UUID,
    "clip_name" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "ended_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,
    "status" "AsRunStatus" NOT NULL,
    "sidecar_epoch" TEXT,
    "sidecar_seq" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "as_run_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "as_run_channel_id_sidecar_epoch_sidecar_seq_key" ON "as_run"("channel_id", "sidecar_epoch", "sidecar_seq");
CREATE INDEX "as_run_channel_id_started_at_id_idx" ON "as_run"("channel_id", "started_at" DESC, "id" DESC);
CREATE INDEX "as_run_started_at_id_idx" ON "as_run"("started_at" DESC, "id" DESC);
CREATE INDEX "as_run_item_id_idx" ON "as_run"("item_id");

CREATE TABLE "decklink_reservations" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "node_id" UUID NOT NULL,
    "device_index" INTEGER NOT NULL,
    "holder" TEXT NOT NULL,
    "reserved_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "released_at" TIMESTAMPTZ(3),
    CONSTRAINT "decklink_reservations_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "decklink_reservations_node_id_device_index_idx" ON "decklink_reservations"("node_id", "device_index");

ALTER TABLE "memberships" ADD CONSTRAINT "memberships_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "assets" ADD CONSTRAINT "assets_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "channels" ADD CONSTRAINT "channels_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "channels" ADD CONSTRAINT "channels_node_id_fkey" FOREIGN KEY ("node_id") REFERENCES "cluster_nodes"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "channel_secrets" ADD CONSTRAINT "channel_secrets_channel_id_fkey" FOREIGN KEY ("channel_id") REFERENCES "channels"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "playlists" ADD CONSTRAINT "playlists_channel_id_fkey" FOREIGN KEY ("channel_id") REFERENCES "channels"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "items" ADD CONSTRAINT "items_playlist_id_fkey" FOREIGN KEY ("playlist_id") REFERENCES "playlists"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "items" ADD CONSTRAINT "items_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "assets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "as_run" ADD CONSTRAINT "as_run_channel_id_fkey" FOREIGN KEY ("channel_id") REFERENCES "channels"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "as_run" ADD CONSTRAINT "as_run_item_id_fkey" FOREIGN KEY ("item_id") REFERENCES "items"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "decklink_reservations" ADD CONSTRAINT "decklink_reservations_node_id_fkey" FOREIGN KEY ("node_id") REFERENCES "cluster_nodes"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Beyond Prisma's schema language:
-- live channels of a project (tombstones of deleted channels excluded);
CREATE INDEX "channels_live_project_idx" ON "channels"("project_id", "created_at") WHERE "deleted_at" IS NULL;
CREATE INDEX "channels_live_node_idx" ON "channels"("node_id") WHERE "deleted_at" IS NULL;
-- asset search by any part of the filename;
CREATE INDEX "assets_filename_trgm_idx" ON "assets" USING gin ("filename" gin_trgm_ops);
-- open reservations of a device.
CREATE INDEX "decklink_reservations_open_idx" ON "decklink_reservations"("node_id", "device_index") WHERE "released_at" IS NULL;
