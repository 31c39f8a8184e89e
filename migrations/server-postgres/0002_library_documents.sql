-- Agents, prompts and sandbox sessions, merged per tenant like graphs: the
-- CRDT document with its revision (a merge stores only over the revision it
-- read), plus what listing, search and admin read without opening it.
CREATE TABLE library_documents (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL,            -- agent | prompt | session
    document_id  TEXT NOT NULL,
    title        TEXT NOT NULL,            -- agent name, prompt or session title
    summary      TEXT NOT NULL,            -- JSON: the listed facts of the item
    -- The merged CRDT document (snapshot with full history).
    snapshot     BYTEA NOT NULL,
    revision     BIGINT NOT NULL DEFAULT 0,
    updated_by   TEXT NOT NULL REFERENCES users (id),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, document_id)
);
CREATE INDEX library_documents_by_update ON library_documents (tenant_id, kind, updated_at);

-- A session's chat, materialised from its merged document (rewritten with it,
-- in the same transaction), in order.
CREATE TABLE chat_messages (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    session_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    position    BIGINT NOT NULL,
    role        TEXT NOT NULL,
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, message_id)
);
CREATE INDEX chat_messages_in_order ON chat_messages (tenant_id, session_id, position);
