-- Events an operator skipped while the schedule aired them (skip under a
-- schedule): the instant the sidecar cut them, so that the API's plan (a day,
-- now and next) moves what followed them up as the sidecar did, and a sidecar
-- started elsewhere (failover) is sent them. Counted in schedules.takes, which
-- keys the read cache (a skip does not move the schedule's version).
ALTER TABLE schedule_events ADD COLUMN skipped_at timestamptz(3);
