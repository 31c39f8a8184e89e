-- The sync server's schema on PostgreSQL: the same tables, columns and
-- meanings as the SQLite migrations in `../server/` after 0005 (ids are UUID
-- text, timestamps RFC 3339 UTC text, flags 0/1, documents bytes), so one set
-- of queries serves both. Later changes get their own numbered files here and
-- in `../server/`.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    -- Lower-cased; one account per address across the server.
    email           TEXT NOT NULL UNIQUE,
    email_verified  BIGINT NOT NULL DEFAULT 0,
    -- argon2id PHC string; NULL for accounts that only sign in through OAuth.
    password_hash   TEXT,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    plan            TEXT NOT NULL DEFAULT 'free',
    theme           TEXT NOT NULL DEFAULT 'system' CHECK (theme IN ('light', 'dark', 'system')),
    -- A JSON object of the user's settings.
    settings        TEXT NOT NULL DEFAULT '{}',
    trial_ends_at   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    payment_failed  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_by_tenant ON users (tenant_id);

CREATE TABLE identities (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    device_name  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    revoked_why  TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE access_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL
);
CREATE INDEX access_tokens_by_session ON access_tokens (session_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    rotated_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX api_keys_by_user ON api_keys (tenant_id, user_id);

CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE graph_documents (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    graph_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- The merged CRDT document (snapshot with full history).
    snapshot    BYTEA NOT NULL,
    node_count  BIGINT NOT NULL,
    edge_count  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES users (id),
    updated_at  TEXT NOT NULL,
    -- Bumped by every merge; a merge stores only over the revision it read.
    revision    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, graph_id)
);
CREATE INDEX graph_documents_by_update ON graph_documents (tenant_id, updated_at);

CREATE TABLE plans (
    key         TEXT PRIMARY KEY NOT NULL,
    definition  TEXT NOT NULL,
    position    BIGINT NOT NULL,
    updated_at  TEXT NOT NULL
);

INSERT INTO plans (key, definition, position, updated_at) VALUES
('free', '{"key":"free","name":"Free","price_cents":0,"interval":"month","limits":{"runs":100,"tokens":200000,"api_calls":0,"graphs":10,"nodes_per_graph":500},"agents":{"kind":"only","agents":["helper","researcher"]},"channels":[],"api_keys":false,"trial_days":0}', 0, '2026-11-23T00:00:00.000Z'),
('pro', '{"key":"pro","name":"Pro","price_cents":1900,"interval":"month","limits":{"runs":5000,"tokens":5000000,"api_calls":10000,"graphs":null,"nodes_per_graph":20000},"agents":{"kind":"all"},"channels":["telegram"],"api_keys":true,"trial_days":14}', 1, '2026-11-23T00:00:00.000Z'),
('enterprise', '{"key":"enterprise","name":"Enterprise","price_cents":9900,"interval":"month","limits":{"runs":null,"tokens":null,"api_calls":null,"graphs":null,"nodes_per_graph":null},"agents":{"kind":"all"},"channels":["telegram","whatsapp"],"api_keys":true,"trial_days":14}', 2, '2026-11-23T00:00:00.000Z');

CREATE TABLE usage_counters (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    metric     TEXT NOT NULL,
    period     TEXT NOT NULL,
    used       BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (tenant_id, user_id, metric, period)
);

CREATE TABLE billing_customers (
    user_id             TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    stripe_customer_id  TEXT NOT NULL UNIQUE,
    created_at          TEXT NOT NULL
);

CREATE TABLE subscriptions (
    stripe_subscription_id  TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id               TEXT NOT NULL REFERENCES tenants (id),
    plan_key                TEXT NOT NULL,
    status                  TEXT NOT NULL,
    cancel_at_period_end    BIGINT NOT NULL,
    current_period_end      TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX subscriptions_by_user ON subscriptions (tenant_id, user_id);

CREATE TABLE stripe_events (
    event_id      TEXT PRIMARY KEY NOT NULL,
    event_type    TEXT NOT NULL,
    processed_at  TEXT NOT NULL
);

CREATE TABLE invoices (
    stripe_invoice_id  TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    status             TEXT NOT NULL,
    amount_due         BIGINT NOT NULL,
    amount_paid        BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    hosted_url         TEXT,
    created            TEXT NOT NULL
);
CREATE INDEX invoices_by_user ON invoices (tenant_id, user_id, created);
