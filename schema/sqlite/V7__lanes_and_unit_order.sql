-- Two lanes (shared/src/lane.rs): units added a few at a time go ahead of a big batch, so a
-- small job is not held behind a big one's backlog. 0 is the first lane, 1 the bulk lane;
-- what is waiting now goes first, as it would have.
ALTER TABLE work_units ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
DROP INDEX work_units_outbox;
CREATE INDEX work_units_outbox ON work_units (lane, updated_at, id) WHERE state = 'pending';

-- A job's units a page at a time, in unit order (`GET /jobs/:id/units?page=`): an index on the
-- job alone holds its units in rowid (id) order.
CREATE INDEX work_units_job_order ON work_units (job_id);
