-- Each job keeps the counts of its units that GET /jobs/:id, the job list and /status show, as
-- the embedded store does (schema/sqlite/V6__unit_counts.sql): reading them is one row, not a
-- count over every unit of a big job. The store counts the units it adds, once per batch; a
-- trigger per statement counts every change of state, once per job per statement, locking the
-- jobs it changes in id order so that two batches touching the same jobs cannot deadlock.
-- Units are deleted only with their job, so a delete needs no counting.
ALTER TABLE jobs ADD COLUMN units_total BIGINT NOT NULL DEFAULT 0;      -- split and process units
ALTER TABLE jobs ADD COLUMN units_done BIGINT NOT NULL DEFAULT 0;       -- of those, complete
ALTER TABLE jobs ADD COLUMN units_incomplete BIGINT NOT NULL DEFAULT 0; -- every stage

UPDATE jobs j SET units_total = c.total, units_done = c.done, units_incomplete = c.incomplete
FROM (SELECT job_id,
             count(*) FILTER (WHERE stage <> 5) AS total,
             count(*) FILTER (WHERE stage <> 5 AND state IN ('succeeded', 'failed')) AS done,
             count(*) FILTER (WHERE state IN ('pending', 'queued')) AS incomplete
      FROM work_units GROUP BY job_id) c
WHERE j.id = c.job_id;

-- Old and new rows are summed apart, not joined: the same units are in both, so the sums give
-- the change, and a batch of thousands costs one pass over each.
CREATE FUNCTION count_unit_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH counted AS (
        SELECT job_id,
               CASE WHEN stage = 5 THEN 0 ELSE (state IN ('succeeded', 'failed'))::int END AS done,
               (state IN ('pending', 'queued'))::int AS incomplete
        FROM new_units
        UNION ALL
        SELECT job_id,
               -CASE WHEN stage = 5 THEN 0 ELSE (state IN ('succeeded', 'failed'))::int END,
               -(state IN ('pending', 'queued'))::int
        FROM old_units),
    changed AS (
        SELECT job_id, sum(done) AS done, sum(incomplete) AS incomplete
        FROM counted GROUP BY job_id
        HAVING sum(done) <> 0 OR sum(incomplete) <> 0),
    locked AS (
        SELECT j.id FROM jobs j WHERE j.id IN (SELECT job_id FROM changed)
        ORDER BY j.id FOR NO KEY UPDATE)
    UPDATE jobs j SET units_done = j.units_done + c.done,
                      units_incomplete = j.units_incomplete + c.incomplete
    FROM changed c JOIN locked l ON l.id = c.job_id
    WHERE j.id = c.job_id;
    RETURN NULL;
END $$;

CREATE TRIGGER work_units_counted AFTER UPDATE ON work_units
REFERENCING OLD TABLE AS old_units NEW TABLE AS new_units
FOR EACH STATEMENT EXECUTE FUNCTION count_unit_changes();
