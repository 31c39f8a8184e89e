-- A merge appends the operations it added instead of rewriting the whole
-- snapshot: a move in a 10k-node graph writes a few hundred bytes, not
-- megabytes. The document is its snapshot plus these updates in revision
-- order; every so many updates the server folds them into a new snapshot.
CREATE TABLE graph_updates (
    tenant_id  TEXT NOT NULL,
    graph_id   TEXT NOT NULL,
    -- The graph's revision this update made.
    revision   INTEGER NOT NULL,
    updates    BLOB NOT NULL,
    PRIMARY KEY (tenant_id, graph_id, revision),
    FOREIGN KEY (tenant_id, graph_id) REFERENCES graph_documents (tenant_id, graph_id) ON DELETE CASCADE
);
-- How many rows of graph_updates follow the snapshot.
ALTER TABLE graph_documents ADD COLUMN update_count INTEGER NOT NULL DEFAULT 0;
