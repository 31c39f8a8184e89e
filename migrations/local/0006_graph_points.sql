-- Automatic points in a graph's history: where a sync brought in edits made
-- on another device or by another person. Each holds the document's place
-- in its own history (Loro frontiers); the graph at that point is read from
-- the document, not from a copy. The newest 200 per graph are kept.
CREATE TABLE graph_points (
    graph_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    frontiers  BLOB NOT NULL,
    PRIMARY KEY (graph_id, at)
);
