-- Idempotency-Key of POST /jobs, as in schema/postgres: a key names the job its first post
-- created, for idempotency_key_secs. Here the write transaction (BEGIN IMMEDIATE) serialises
-- posts, and the primary key holds one row per key.
CREATE TABLE idempotency_keys (
    key         TEXT    PRIMARY KEY,
    -- SHA-256 (hex) of the job's canonical form.
    fingerprint TEXT    NOT NULL,
    -- Not a foreign key: the key of a deleted job still says so (AUTOINCREMENT never reuses ids).
    job_id      INTEGER,
    created_at  REAL    NOT NULL DEFAULT (unixepoch('subsec'))
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
