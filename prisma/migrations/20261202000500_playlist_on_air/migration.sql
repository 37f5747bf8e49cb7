-- Editing the playlist on air (README "Editing on air").
--
-- The playlist a channel's playout last loaded (play, or the resume after a
-- failover). Set by play in the transaction that holds the playlist row while
-- the sidecar loads it; cleared when the channel stops. SET NULL on delete is
-- only a backstop: deletePlaylist refuses the playlist on air of a channel
-- that runs.
ALTER TABLE "channels" ADD COLUMN "on_air_playlist_id" UUID
    REFERENCES "playlists"("id") ON DELETE SET NULL;
CREATE INDEX "channels_on_air_playlist" ON "channels" ("on_air_playlist_id")
    WHERE "on_air_playlist_id" IS NOT NULL;

-- Grows by one with every committed edit of the playlist or its items; sent
-- with the list to the sidecar, which refuses an older one than it has, so a
-- push that arrives late never overwrites a newer edit.
ALTER TABLE "playlists" ADD COLUMN "revision" INTEGER NOT NULL DEFAULT 0;

-- A channel that stops (or fails to ERROR) plays nothing: whoever stops it.
CREATE FUNCTION "channels_on_air_cleared"() RETURNS trigger AS $$
BEGIN
    IF NEW."status" IN ('STOPPED', 'ERROR') THEN
        NEW."on_air_playlist_id" := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "channels_on_air_cleared" BEFORE UPDATE OF "status" ON "channels"
    FOR EACH ROW WHEN (NEW."status" IN ('STOPPED', 'ERROR'))
    EXECUTE FUNCTION "channels_on_air_cleared"();
