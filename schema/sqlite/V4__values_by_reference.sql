-- As schema/postgres/V4: the size of a job's options, and its outputs beyond what is listed.
ALTER TABLE jobs ADD COLUMN options_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN outputs_total INTEGER;
ALTER TABLE jobs ADD COLUMN outputs_stage INTEGER;
