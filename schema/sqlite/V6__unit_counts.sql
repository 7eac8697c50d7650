-- Each job keeps the counts of its units that GET /jobs/:id, the job list and /status show, so
-- reading them is one row, not a count over the job's units on the one connection everything
-- else waits for. Triggers keep them right whatever statement changes or deletes a unit; the
-- store counts the units it adds, once per batch (a trigger per inserted row would make posting
-- a big job several times slower).
ALTER TABLE jobs ADD COLUMN units_total INTEGER NOT NULL DEFAULT 0;      -- split and process units
ALTER TABLE jobs ADD COLUMN units_done INTEGER NOT NULL DEFAULT 0;       -- of those, complete
ALTER TABLE jobs ADD COLUMN units_incomplete INTEGER NOT NULL DEFAULT 0; -- every stage

UPDATE jobs SET
    units_total = (SELECT count(*) FROM work_units u WHERE u.job_id = jobs.id AND u.stage <> 5),
    units_done = (SELECT count(*) FROM work_units u WHERE u.job_id = jobs.id AND u.stage <> 5
                  AND u.state IN ('succeeded', 'failed')),
    units_incomplete = (SELECT count(*) FROM work_units u WHERE u.job_id = jobs.id
                        AND u.state IN ('pending', 'queued'));

CREATE TRIGGER work_units_counted_on AFTER UPDATE OF state ON work_units
WHEN (OLD.state IN ('pending', 'queued')) <> (NEW.state IN ('pending', 'queued'))
BEGIN
    UPDATE jobs SET
        units_done = units_done + (NEW.stage <> 5) * ((NEW.state IN ('succeeded', 'failed'))
                                                    - (OLD.state IN ('succeeded', 'failed'))),
        units_incomplete = units_incomplete + (NEW.state IN ('pending', 'queued'))
                                            - (OLD.state IN ('pending', 'queued'))
    WHERE id = NEW.job_id;
END;

CREATE TRIGGER work_units_counted_out AFTER DELETE ON work_units
BEGIN
    UPDATE jobs SET
        units_total = units_total - (OLD.stage <> 5),
        units_done = units_done - (OLD.stage <> 5 AND OLD.state IN ('succeeded', 'failed')),
        units_incomplete = units_incomplete - (OLD.state IN ('pending', 'queued'))
    WHERE id = OLD.job_id;
END;
