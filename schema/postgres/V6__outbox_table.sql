-- The outbox gets a small table of its own. The relay claims from it in order without walking
-- the index entries of units it relayed long ago, and locks only outbox rows while it publishes,
-- so a completion never waits for a relay's broker round trip. A unit is in the outbox while it
-- waits to be published: when it is created, retried, or handed back after it was lost.
-- A unit may have two rows for a moment (retried while a relay was sending its last attempt):
-- the relay sends only a unit that is pending, once, and drops rows of units that are not.
CREATE TABLE outbox (
    seq     BIGSERIAL PRIMARY KEY,
    unit_id BIGINT    NOT NULL REFERENCES work_units (id) ON DELETE CASCADE
);
CREATE INDEX outbox_unit ON outbox (unit_id);

INSERT INTO outbox (unit_id)
SELECT id FROM work_units WHERE state = 'pending' ORDER BY updated_at, id;

DROP INDEX work_units_outbox;
