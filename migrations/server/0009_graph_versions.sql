-- The version vector of each merged graph, written with its snapshot, so a
-- device that already has everything is answered without decoding the
-- document. NULL for graphs merged before this column existed (they are
-- decoded as before until their next merge).
ALTER TABLE graph_documents ADD COLUMN version BLOB;
