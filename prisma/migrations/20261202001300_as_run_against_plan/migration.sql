-- As-run against plan: what a schedule aired names its event (no foreign key:
-- the record outlives the event, which may be edited away), the version that
-- planned it, the segment's planned start and end, and why filler played.
CREATE TYPE "ScheduleFill" AS ENUM ('GAP', 'MISSING', 'MANUAL');

ALTER TABLE as_run
  ADD COLUMN schedule_event_id uuid,
  ADD COLUMN schedule_version integer,
  ADD COLUMN planned_start_at timestamptz(3),
  ADD COLUMN planned_end_at timestamptz(3),
  ADD COLUMN fills "ScheduleFill",
  ADD CONSTRAINT as_run_planned_check CHECK (
    (planned_start_at IS NULL) = (planned_end_at IS NULL)
    AND (planned_end_at IS NULL OR planned_end_at >= planned_start_at)
    AND (schedule_event_id IS NULL OR planned_start_at IS NOT NULL)
  );

CREATE INDEX as_run_schedule_event_idx ON as_run (schedule_event_id);
