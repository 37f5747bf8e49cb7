-- Takes of MANUAL events, kept by the control plane as the sidecar keeps them:
-- the instant the event went to air, and per schedule a count of takes that
-- keys the read cache (a take is not part of the schedule the sidecar is sent,
-- so it does not move the schedule's version).
ALTER TABLE schedule_events ADD COLUMN taken_at timestamptz(3);
ALTER TABLE schedules ADD COLUMN takes integer NOT NULL DEFAULT 0;
