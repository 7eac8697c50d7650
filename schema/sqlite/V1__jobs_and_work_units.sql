-- The embedded store: the same tables as schema/postgres, in SQLite's types. JSON is TEXT;
-- times are seconds since the Unix epoch (REAL).

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    action            TEXT    NOT NULL,
    status            INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
    inputs            TEXT    NOT NULL,
    options           TEXT    NOT NULL DEFAULT '{}',
    outputs           TEXT,
    has_merge         INTEGER NOT NULL,
    callback_url      TEXT,
    email             TEXT,
    time_taken        REAL,
    created_at        REAL    NOT NULL DEFAULT (unixepoch('subsec')),
    updated_at        REAL    NOT NULL DEFAULT (unixepoch('subsec')),
    callback_state    TEXT    NOT NULL DEFAULT 'none',
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_due_at   REAL,
    callback_error    TEXT
);

CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_callbacks_due ON jobs (callback_due_at) WHERE callback_state = 'pending';

CREATE TABLE work_units (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    stage       INTEGER NOT NULL CHECK (stage IN (1, 4, 5)),
    state       TEXT    NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'queued', 'succeeded', 'failed')),
    input       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    output      TEXT,
    time        REAL,
    created_at  REAL    NOT NULL DEFAULT (unixepoch('subsec')),
    updated_at  REAL    NOT NULL DEFAULT (unixepoch('subsec'))
);

CREATE INDEX work_units_job ON work_units (job_id, stage, state);
CREATE INDEX work_units_outbox ON work_units (updated_at, id) WHERE state = 'pending';
CREATE UNIQUE INDEX work_units_one_merge ON work_units (job_id) WHERE stage = 5;

CREATE TABLE nodes (
    name        TEXT    PRIMARY KEY,
    tag         TEXT,
    max_workers INTEGER NOT NULL,
    running     TEXT    NOT NULL DEFAULT '[]',
    actions     TEXT    NOT NULL DEFAULT '[]',
    last_seen   REAL    NOT NULL
);
