-- Every API replica keeps the route to each channel's sidecar (status, address,
-- sealed secret, project) in memory, so that an operator's transport command
-- costs no statement (src/services/channel-routes.ts). The database tells the
-- replicas when a route changes: a trigger, so that no change anywhere (API,
-- worker, failover, a manual UPDATE) can forget to.
CREATE FUNCTION "channels_route_changed"() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('onair_channel_route', OLD."id"::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "channels_route_updated" AFTER UPDATE ON "channels"
    FOR EACH ROW
    WHEN (OLD."status" IS DISTINCT FROM NEW."status"
       OR OLD."sidecar_url" IS DISTINCT FROM NEW."sidecar_url"
       OR OLD."sidecar_secret" IS DISTINCT FROM NEW."sidecar_secret"
       OR OLD."project_id" IS DISTINCT FROM NEW."project_id"
       OR OLD."deleted_at" IS DISTINCT FROM NEW."deleted_at")
    EXECUTE FUNCTION "channels_route_changed"();

CREATE TRIGGER "channels_route_deleted" AFTER DELETE ON "channels"
    FOR EACH ROW EXECUTE FUNCTION "channels_route_changed"();
