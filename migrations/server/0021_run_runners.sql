-- Which server instance runs each run, and when each instance was last
-- seen: several instances share a PostgreSQL database, and the runs of one
-- that died are ended as failed by the others once it has been silent a
-- while (a run's events live in its instance's memory until it ends).
ALTER TABLE agent_runs ADD COLUMN runner TEXT;
CREATE INDEX agent_runs_going ON agent_runs (runner) WHERE state IN ('queued', 'running');

CREATE TABLE run_runners (
    id       TEXT PRIMARY KEY NOT NULL,
    seen_at  TEXT NOT NULL
);
