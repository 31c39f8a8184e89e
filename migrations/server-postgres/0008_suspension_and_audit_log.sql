-- server/0012 on PostgreSQL: suspension and the append-only audit log.
ALTER TABLE users ADD COLUMN suspended_at TEXT;

CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY NOT NULL,
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

-- Append-only: UPDATE, DELETE and TRUNCATE are refused.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
