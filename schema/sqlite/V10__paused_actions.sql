-- Paused actions (CloudCrowd's blacklist): their units stay pending until resumed.
CREATE TABLE paused_actions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    action     TEXT    NOT NULL UNIQUE,
    created_at REAL    NOT NULL DEFAULT (unixepoch('subsec'))
);
