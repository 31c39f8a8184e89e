-- Account-email templates an admin edited (the shipped ones live in the
-- server's code): a row replaces the shipped subject, text and HTML of its
-- template until an admin resets it.
CREATE TABLE mail_templates (
    key         TEXT PRIMARY KEY NOT NULL,
    subject     TEXT NOT NULL,
    text        TEXT NOT NULL,
    html        TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
