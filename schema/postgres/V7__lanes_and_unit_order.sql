-- Two lanes (shared/src/lane.rs): units added a few at a time go ahead of a big batch, in the
-- outbox as in the action's queue, so a small job is not held behind a big one's backlog.
-- 0 is the first lane, 1 the bulk lane; what is waiting now goes first, as it would have.
ALTER TABLE work_units ADD COLUMN lane SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lane SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_claim ON outbox (lane, seq);

-- A job's units a page at a time, in unit order (`GET /jobs/:id/units?page=`), without sorting
-- every unit of a big job. Neither column ever changes, so updates of a unit stay as they were.
CREATE INDEX work_units_job_order ON work_units (job_id, id);
