-- The local store: every graph as its CRDT document (the source of truth) plus
-- plain rows materialised from it for listing and for the canvas to load fast.
CREATE TABLE graphs (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    document         BLOB NOT NULL,
    -- The server's version vector as of the last successful sync (NULL: never synced).
    server_version   BLOB,
    -- Operations in `document` that the server has not acknowledged yet.
    pending_changes  INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE graph_nodes (
    graph_id  TEXT NOT NULL REFERENCES graphs (id) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    label     TEXT NOT NULL,
    x         REAL NOT NULL,
    y         REAL NOT NULL,
    z         REAL NOT NULL,
    PRIMARY KEY (graph_id, id)
);

CREATE TABLE graph_edges (
    graph_id   TEXT NOT NULL REFERENCES graphs (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    from_node  TEXT NOT NULL,
    from_port  TEXT NOT NULL,
    to_node    TEXT NOT NULL,
    to_port    TEXT NOT NULL,
    PRIMARY KEY (graph_id, id)
);

-- Small key/value facts about this installation (server URL, device id).
CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
