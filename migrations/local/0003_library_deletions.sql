-- A deleted agent, prompt or session keeps its document (the deletion is a
-- tombstone in it, so it syncs) and leaves the listings.
ALTER TABLE library_documents ADD COLUMN deleted_at TEXT;
