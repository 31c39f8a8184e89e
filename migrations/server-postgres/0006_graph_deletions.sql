-- A deleted graph's merged document stays (its tombstone reaches every
-- device), leaves the listing and no longer counts against the plan.
ALTER TABLE graph_documents ADD COLUMN deleted_at TEXT;
