-- Every version of every prompt, materialised from the prompt's merged
-- document (rewritten with it, in the same transaction) so the management
-- window lists what was published across the server without opening
-- documents. `published_by` is the user whose merge made the version active
-- (an admin's rollback included); NULL for versions published before this
-- table existed, or by a user since deleted.
CREATE TABLE prompt_versions (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    prompt_id     TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    status        TEXT NOT NULL,            -- draft | active | archived
    content       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    activated_at  TEXT,
    published_by  TEXT,
    PRIMARY KEY (tenant_id, prompt_id, version_id)
);
CREATE INDEX prompt_versions_by_publication ON prompt_versions (activated_at) WHERE activated_at IS NOT NULL;
