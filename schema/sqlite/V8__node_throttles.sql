-- Why a node takes no new units now (its load or free memory past `max_load` or
-- `min_free_memory`), as its heartbeat says; null while it takes them.
ALTER TABLE nodes ADD COLUMN throttled TEXT;
