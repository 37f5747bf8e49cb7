-- The workers' sweep for schedule versions committed but not yet on their sidecar
-- (src/domain/schedules/schedule-delivery.ts) reads the last minute's commits every second.
CREATE INDEX "schedules_updated_at_idx" ON "schedules"("updated_at");
