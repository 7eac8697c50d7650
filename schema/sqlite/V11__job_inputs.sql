-- A job's input list moves out of its row. Every completion updates the job's counters (V6's
-- triggers), and SQLite rewrites a row whole, overflow pages included: with a million inputs in
-- the row, each unit cost a walk through megabytes (Postgres keeps big values out of line and
-- does not pay this).
CREATE TABLE job_inputs (
    job_id INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    inputs TEXT    NOT NULL
);
INSERT INTO job_inputs (job_id, inputs) SELECT id, inputs FROM jobs;
ALTER TABLE jobs DROP COLUMN inputs;
