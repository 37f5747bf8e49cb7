-- schedules.takes counted every take of a MANUAL event and every skip on air:
-- an operator's actions on the running schedule, which key the API's plan cache
-- (neither moves the schedule's version). Named for what it counts.
ALTER TABLE schedules RENAME COLUMN takes TO operator_actions;
