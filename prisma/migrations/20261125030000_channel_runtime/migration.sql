-- What the control plane knows of a channel's running sidecar, and the guard
-- that keeps one DeckLink device to one channel on air.

ALTER TABLE "channels"
    ADD COLUMN "sidecar_ref" TEXT,
    ADD COLUMN "sidecar_url" TEXT,
    -- The port its API listens on, on its node (host networking).
    ADD COLUMN "sidecar_port" INTEGER,
    -- The per-spawn API secret, encrypted like the output secrets.
    ADD COLUMN "sidecar_secret" TEXT,
    ADD COLUMN "sidecar_epoch" TEXT,
    ADD COLUMN "sidecar_seq" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "started_at" TIMESTAMPTZ(3);

-- A DeckLink device (node, index) drives one channel at a time: two concurrent
-- starts cannot both take it, whatever the code above does.
CREATE UNIQUE INDEX "channels_decklink_in_use_key" ON "channels"("node_id", "decklink_device")
    WHERE "decklink_device" IS NOT NULL AND "status" IN ('STARTING', 'RUNNING', 'STOPPING') AND "deleted_at" IS NULL;

-- Two sidecars on one node never share a port. (A node-less channel runs on the
-- machine of the control plane: the nil uuid stands for it.)
CREATE UNIQUE INDEX "channels_sidecar_port_key" ON "channels"(COALESCE("node_id", '00000000-0000-0000-0000-000000000000'::uuid), "sidecar_port")
    WHERE "sidecar_port" IS NOT NULL;

-- Other systems reserve devices by inserting here. Under the node's row lock
-- (which a channel start takes too) a reservation of a device on air is refused.
CREATE FUNCTION "decklink_reservation_guard"() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM "cluster_nodes" WHERE "id" = NEW."node_id" FOR UPDATE;
    IF NEW."released_at" IS NULL AND EXISTS (
        SELECT 1 FROM "channels"
         WHERE "node_id" = NEW."node_id" AND "decklink_device" = NEW."device_index"
           AND "status" IN ('STARTING', 'RUNNING', 'STOPPING') AND "deleted_at" IS NULL
    ) THEN
        RAISE EXCEPTION 'DeckLink device % on node % is on air', NEW."device_index", NEW."node_id"
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "decklink_reservation_guard" BEFORE INSERT OR UPDATE OF "released_at", "device_index", "node_id"
    ON "decklink_reservations" FOR EACH ROW EXECUTE FUNCTION "decklink_reservation_guard"();
