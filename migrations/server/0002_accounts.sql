-- Accounts and tenancy: users sign in (password or OAuth), every user belongs to
-- a tenant, and every authored row carries the tenant it belongs to.
--
-- Device tokens are replaced by user sessions. Graph documents merged before
-- accounts existed belong to no tenant and are dropped: a desktop whose graph
-- the server no longer has pushes its whole history again on the next sync
-- (orrery_sync::SyncClient::sync_graph), into the signed-in user's tenant.

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
    email_verified  INTEGER NOT NULL DEFAULT 0,
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
    updated_at      TEXT NOT NULL
);
CREATE INDEX users_by_tenant ON users (tenant_id);

-- An account at an OAuth provider, linked to one user.
CREATE TABLE identities (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);

-- One signed-in device. Its refresh tokens form one family: presenting a
-- refresh token that was already used revokes the whole session.
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

-- Tokens are stored as SHA-256 (hex) only.
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
    -- The first characters of the key, shown in lists so a user can tell keys apart.
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

DROP TABLE graph_documents;
DROP TABLE devices;

CREATE TABLE graph_documents (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    graph_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- The merged CRDT document (snapshot with full history).
    snapshot    BLOB NOT NULL,
    node_count  INTEGER NOT NULL,
    edge_count  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES users (id),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, graph_id)
);
CREATE INDEX graph_documents_by_update ON graph_documents (tenant_id, updated_at);
