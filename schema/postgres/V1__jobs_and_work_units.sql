-- Jobs and their work units. Postgres is the source of truth; the broker only carries work.

CREATE TABLE jobs (
    id                BIGSERIAL PRIMARY KEY,
    action            TEXT        NOT NULL,
    -- CloudCrowd's codes: 1 processing, 2 succeeded, 3 failed, 4 splitting, 5 merging.
    status            SMALLINT    NOT NULL CHECK (status BETWEEN 1 AND 5),
    inputs            JSONB       NOT NULL,
    options           JSONB       NOT NULL DEFAULT '{}',
    outputs           JSONB,
    -- Copied from the action at creation, so the dispatcher needs no action code.
    has_merge         BOOLEAN     NOT NULL,
    callback_url      TEXT,
    email             TEXT,
    -- Seconds from creation to completion.
    time_taken        DOUBLE PRECISION,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Callback delivery: 'none' (no URL or not complete), 'pending', 'delivered', 'abandoned'.
    callback_state    TEXT        NOT NULL DEFAULT 'none',
    callback_attempts INT         NOT NULL DEFAULT 0,
    callback_due_at   TIMESTAMPTZ,
    callback_error    TEXT
);

CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_callbacks_due ON jobs (callback_due_at) WHERE callback_state = 'pending';

CREATE TABLE work_units (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    action      TEXT        NOT NULL,
    -- The CloudCrowd status a unit of that stage had: 4 split, 1 process, 5 merge.
    stage       SMALLINT    NOT NULL CHECK (stage IN (1, 4, 5)),
    -- 'pending' is the outbox: not yet confirmed by the broker.
    state       TEXT        NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'queued', 'succeeded', 'failed')),
    input       JSONB       NOT NULL,
    -- Finished attempts; a completion must name the current one to count.
    attempts    INT         NOT NULL DEFAULT 0,
    output      JSONB,
    time        DOUBLE PRECISION,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the unit last became pending: the outbox publishes oldest first, so a retry goes
    -- to the back of the queue.
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX work_units_job ON work_units (job_id, stage, state);
CREATE INDEX work_units_outbox ON work_units (updated_at, id) WHERE state = 'pending';
-- Exactly one merge per job, whatever races the dispatchers run.
CREATE UNIQUE INDEX work_units_one_merge ON work_units (job_id) WHERE stage = 5;

-- Workers, as their heartbeats describe them (shown by GET /status).
CREATE TABLE nodes (
    name        TEXT        PRIMARY KEY,
    tag         TEXT,
    max_workers INT         NOT NULL,
    running     JSONB       NOT NULL DEFAULT '[]',
    actions     JSONB       NOT NULL DEFAULT '[]',
    last_seen   TIMESTAMPTZ NOT NULL DEFAULT now()
);
