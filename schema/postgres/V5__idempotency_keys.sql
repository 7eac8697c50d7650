-- Idempotency-Key of POST /jobs: a key names the job its first post created, for
-- idempotency_key_secs (24 h by default). The primary key is what makes two posts racing with
-- one key make one job: the second one's insert waits for the first one's transaction, which
-- writes the job too, and then finds the key taken.
CREATE TABLE idempotency_keys (
    key         TEXT        PRIMARY KEY,
    -- SHA-256 (hex) of the job's canonical form: the key posted with another job is refused.
    fingerprint TEXT        NOT NULL,
    -- The job it created; NULL only inside the transaction that creates it. Not a foreign key:
    -- the key of a deleted job still says so (410) instead of making the job again, and job ids
    -- are never reused.
    job_id      BIGINT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Posts delete expired keys oldest first.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
