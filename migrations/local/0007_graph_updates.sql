-- Updates stored after a graph's document snapshot, oldest first: an edit
-- that touched a few nodes (a move arriving live) appends what it added
-- instead of writing the whole document again. The document is the
-- snapshot with these applied in order; saving the graph whole writes a
-- new snapshot and clears them.
CREATE TABLE graph_updates (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    graph_id  TEXT NOT NULL REFERENCES graphs (id) ON DELETE CASCADE,
    updates   BLOB NOT NULL
);
CREATE INDEX graph_updates_by_graph ON graph_updates (graph_id, seq);
