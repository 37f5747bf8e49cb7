-- Media staging works per asset: one copy on the playout volume serves every
-- item that plays it, so the media state moves from items to assets. An item's
-- media status is its asset's; nothing can leave two items of one asset in
-- different states.
ALTER TABLE "assets"
    ADD COLUMN "media_status" "MediaStatus" NOT NULL DEFAULT 'PENDING',
    ADD COLUMN "media_error" TEXT,
    ADD COLUMN "media_path" TEXT,
    ADD COLUMN "media_bytes" BIGINT,
    ADD COLUMN "media_staged_at" TIMESTAMPTZ(3),
    ADD CONSTRAINT "assets_media_ready_check" CHECK ("media_status" <> 'READY' OR "media_path" IS NOT NULL);

ALTER TABLE "items"
    DROP COLUMN "media_status",
    DROP COLUMN "media_error",
    DROP COLUMN "media_path";
