-- Teams (F24 for many people): a team is a tenant several users share.
-- A user's own tenant (made when they registered) stays theirs alone and
-- is their personal workspace; a team tenant's people are its members, each
-- with one role. Everything a tenant holds (graphs, library, runs) belongs
-- to the team's tenant as it would to a person's.

ALTER TABLE tenants ADD COLUMN kind TEXT NOT NULL DEFAULT 'personal';

-- Who belongs to a team, and as what. Removing the row ends the member's
-- access at the next request (every request reads it).
CREATE TABLE team_members (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    added_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

-- An invitation by email. The link's secret is kept as SHA-256 only; it
-- works once (`accepted_at`), until `expires_at`, unless revoked.
CREATE TABLE team_invitations (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT,
    accepted_by  TEXT,
    revoked_at   TEXT
);
CREATE INDEX team_invitations_by_tenant ON team_invitations (tenant_id, created_at);
