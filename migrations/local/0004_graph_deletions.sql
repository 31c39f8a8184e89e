-- A deleted graph keeps its document (the deletion is a tombstone in it, so
-- it syncs), leaves the library's listing, and can be restored until it is
-- purged.
ALTER TABLE graphs ADD COLUMN deleted_at TEXT;
