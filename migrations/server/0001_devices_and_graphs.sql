-- The sync server's store: registered devices and the merged graph documents.
CREATE TABLE devices (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    -- SHA-256 (hex) of the device's bearer token; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE graph_documents (
    graph_id    TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    -- The merged CRDT document (snapshot with full history).
    snapshot    BLOB NOT NULL,
    node_count  INTEGER NOT NULL,
    edge_count  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES devices (id),
    updated_at  TEXT NOT NULL
);
