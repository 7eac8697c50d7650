-- Big values travel by reference. The size of a job's options, so the relay can leave big ones
-- out of its units' messages without reading them (the dispatcher stores them once per job);
-- and how many outputs a job's output stage has, when there are more than GET /jobs/:id lists
-- (the rest are paged from the units of that stage).
ALTER TABLE jobs ADD COLUMN options_bytes INT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN outputs_total BIGINT;
ALTER TABLE jobs ADD COLUMN outputs_stage SMALLINT;
