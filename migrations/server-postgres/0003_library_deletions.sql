-- A deleted agent, prompt or session keeps its merged document (the deletion
-- is a tombstone in it, so late devices learn of it) and leaves the listings.
ALTER TABLE library_documents ADD COLUMN deleted_at TEXT;
