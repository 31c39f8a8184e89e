-- The usage ledger: one entry per finished run (orrery_domain::runs::FinishedRun
-- as JSON), kept until the server acknowledges it and after, so the device
-- knows what it used offline. Sent on each sync; the server counts an entry
-- once by its id.
CREATE TABLE usage_ledger (
    id               TEXT PRIMARY KEY NOT NULL,
    entry            TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    acknowledged_at  TEXT
);
CREATE INDEX usage_ledger_unacknowledged ON usage_ledger (acknowledged_at, id);
