-- Agents, prompts and sandbox sessions: each one a CRDT document (the source
-- of truth) with its sync bookkeeping, like `graphs`, plus what listing and
-- search read without opening the document.
CREATE TABLE library_documents (
    kind             TEXT NOT NULL,            -- agent | prompt | session
    id               TEXT NOT NULL,
    title            TEXT NOT NULL,            -- agent name, prompt or session title
    summary          TEXT NOT NULL,            -- JSON: the listed facts of the item
    document         BLOB NOT NULL,
    -- The server's version vector as of the last successful sync (NULL: never synced).
    server_version   BLOB,
    -- Operations in `document` that the server has not acknowledged yet.
    pending_changes  INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX library_documents_by_update ON library_documents (kind, updated_at);

-- A session's chat, materialised from its document in order.
CREATE TABLE chat_messages (
    session_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    position    INTEGER NOT NULL,
    role        TEXT NOT NULL,
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (session_id, id)
);
CREATE INDEX chat_messages_in_order ON chat_messages (session_id, position);
