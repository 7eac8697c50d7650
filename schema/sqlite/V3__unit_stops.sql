-- As schema/postgres/V3: runs that ended because the worker running them stopped.
ALTER TABLE work_units ADD COLUMN stops INTEGER NOT NULL DEFAULT 0;
