-- When a unit finished (succeeded or failed for good), so the operations page can show how many
-- units finish per second without scanning every unit.
ALTER TABLE work_units ADD COLUMN finished_at TIMESTAMPTZ;
CREATE INDEX work_units_finished ON work_units (finished_at) WHERE finished_at IS NOT NULL;
-- Cleanup finds complete jobs by when they completed.
CREATE INDEX jobs_complete_updated ON jobs (updated_at) WHERE status IN (2, 3);
