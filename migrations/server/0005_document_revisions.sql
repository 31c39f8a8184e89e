-- Every stored graph document carries a revision, bumped by each merge. A merge
-- stores its result only if the revision it read is still current, so two
-- merges of one graph (on one instance or several sharing a database) can
-- never overwrite each other; the loser reads again and merges again.
ALTER TABLE graph_documents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
