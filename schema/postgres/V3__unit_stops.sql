-- Runs of a unit that ended with no completion because the worker running it stopped (killed,
-- out of memory, a crash in a tool): they count as failed attempts, and the error says how many.
ALTER TABLE work_units ADD COLUMN stops INT NOT NULL DEFAULT 0;
