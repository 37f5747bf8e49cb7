-- When a channel's status last changed: a STARTING or STOPPING claim whose
-- process died is recognised by its age (the control loop moves it to ERROR),
-- and a start or failover finishing late can tell its own claim from a later
-- one. Kept by a trigger, so no status change anywhere can forget it.
ALTER TABLE "channels"
    ADD COLUMN "status_changed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    -- The failovers within the last FAILOVER_WINDOW_MS (older ones are dropped at
    -- each failover): a sidecar that dies at every start is not restarted forever.
    ADD COLUMN "recent_failovers" TIMESTAMPTZ(3)[] NOT NULL DEFAULT '{}';

CREATE FUNCTION "channels_status_changed_at"() RETURNS trigger AS $$
BEGIN
    IF NEW."status" IS DISTINCT FROM OLD."status" THEN
        -- The wall clock: a claim's age counts from the claim, not from the start
        -- of its transaction (which may have waited on the node's lock).
        NEW."status_changed_at" := clock_timestamp();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "channels_status_changed_at" BEFORE UPDATE OF "status" ON "channels"
    FOR EACH ROW EXECUTE FUNCTION "channels_status_changed_at"();
