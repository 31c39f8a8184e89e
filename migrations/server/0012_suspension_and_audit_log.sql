-- Suspension: while `suspended_at` is set, none of the user's credentials
-- (access tokens, refresh tokens, API keys, the live feed) works and they
-- cannot sign in. Reactivation clears it.
ALTER TABLE users ADD COLUMN suspended_at TEXT;

-- The audit log: one row per admin action, appended in the same transaction
-- as the change it records. `seq` numbers the entries without gaps; each
-- entry's `hash` is SHA-256 over its fields and `previous_hash` (the hash of
-- entry `seq - 1`, 64 zeros for the first), so removing or editing an entry
-- breaks the chain. A previous hash is unique: the chain cannot fork.
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY NOT NULL,
    id             TEXT NOT NULL UNIQUE,
    at             TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_email    TEXT NOT NULL,
    action         TEXT NOT NULL,
    target_kind    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    before_json    TEXT NOT NULL,
    after_json     TEXT NOT NULL,
    address        TEXT NOT NULL,
    previous_hash  TEXT NOT NULL UNIQUE,
    hash           TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- Append-only: the store refuses to change or remove an entry.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
