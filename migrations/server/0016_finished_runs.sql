-- Runs finished on devices (and, later, on the server), one row per ledger
-- entry: the entry's id makes a report sent again count nothing twice. Each
-- row is written in one transaction with the run's `run.finished` event and
-- the usage it adds; the management window's Monitoring reads these columns
-- (per day, per graph, per user) rather than the events' JSON.
CREATE TABLE finished_runs (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    run_id            TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    graph_id          TEXT,                 -- NULL: not over a graph
    started_at        TEXT NOT NULL,
    -- The UTC day it ran (its start, within the last 400 days and not after
    -- it was received).
    day               TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    model             TEXT NOT NULL,
    model_calls       INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    cost_nanodollars  INTEGER,
    error             TEXT,
    cancelled         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX finished_runs_by_day ON finished_runs (day);
CREATE INDEX finished_runs_by_graph ON finished_runs (graph_id, day);
CREATE INDEX finished_runs_by_user ON finished_runs (user_id, day);
