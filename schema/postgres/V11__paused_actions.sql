-- Paused actions (CloudCrowd's blacklist): their units wait in the outbox until resumed.
CREATE TABLE paused_actions (
    id         BIGSERIAL   PRIMARY KEY,
    action     TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
