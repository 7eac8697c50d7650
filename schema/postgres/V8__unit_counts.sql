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

CREATE FUNCTION count_unit_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT n.job_id,
               sum(CASE WHEN n.stage = 5 THEN 0
                        ELSE (n.state IN ('succeeded', 'failed'))::int
                             - (o.state IN ('succeeded', 'failed'))::int END) AS done,
               sum((n.state IN ('pending', 'queued'))::int
                   - (o.state IN ('pending', 'queued'))::int) AS incomplete
        FROM old_units o JOIN new_units n ON n.id = o.id
        WHERE (o.state IN ('pending', 'queued')) <> (n.state IN ('pending', 'queued'))
        GROUP BY n.job_id),
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
