-- As schema/postgres/V2: when a unit finished, for the rate units finish at.
ALTER TABLE work_units ADD COLUMN finished_at REAL;
CREATE INDEX work_units_finished ON work_units (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_complete_updated ON jobs (updated_at) WHERE status IN (2, 3);
