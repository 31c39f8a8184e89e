-- Runs on the server (the public API, later the channels).
--
-- A key is live or test (its prefix says which as well); test keys' runs go
-- to the tenant's test provider and only test keys see them.
ALTER TABLE api_keys ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';

-- The provider a tenant's server-side runs call, one per mode. The provider's
-- API key is sealed (XChaCha20-Poly1305) with the operator's secrets key and
-- bound to the tenant and mode, so a row copied to another tenant does not open.
CREATE TABLE run_providers (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    mode         TEXT NOT NULL,
    -- orrery_runtime::ProviderSettings as JSON (no secret in it).
    settings     TEXT NOT NULL,
    sealed_key   BLOB,                 -- NULL: the provider needs no key
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, mode)
);

-- One run: what was asked, of what, and how it ended. `state` is queued,
-- running, succeeded, failed or cancelled; a run ends once.
CREATE TABLE agent_runs (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    user_id        TEXT NOT NULL,
    mode           TEXT NOT NULL,
    target_kind    TEXT NOT NULL,      -- agent or graph
    target_id      TEXT NOT NULL,
    session_id     TEXT,
    input          TEXT NOT NULL,
    state          TEXT NOT NULL,
    answer         TEXT,
    error          TEXT,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    finished_at    TEXT
);
CREATE INDEX agent_runs_by_tenant ON agent_runs (tenant_id, created_at);

-- Every event of a run in order, for clients that reconnect (SSE's
-- Last-Event-ID is `seq`).
CREATE TABLE agent_run_events (
    run_id   TEXT NOT NULL REFERENCES agent_runs (id),
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    data     TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Idempotency-Key: the first response to a POST, kept 24 hours. A row whose
-- `status` is NULL is a request still being answered.
CREATE TABLE idempotency_keys (
    tenant_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    status         INTEGER,
    response       TEXT,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, idem_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
