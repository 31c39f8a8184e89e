-- Account emails waiting to be sent, each written in the same transaction as
-- what it announces (a registration, an invoice, a plan change) or by the
-- trial job. `dedupe_key` makes a mail queued twice — a webhook delivered
-- again, the trial job run again after a restart — one row. The sender
-- claims a row by moving `next_attempt_at` forward (a lease), sends it with
-- the row's id as its Message-ID, then sets `sent_at`; a failure counts an
-- attempt and waits longer each time.
CREATE TABLE mail_outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    dedupe_key       TEXT NOT NULL UNIQUE,
    tenant_id        TEXT,
    to_address       TEXT NOT NULL,
    template         TEXT NOT NULL,
    -- The template's variables as JSON ('{}' once a secret one was sent).
    data             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    sent_at          TEXT,
    last_error       TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
