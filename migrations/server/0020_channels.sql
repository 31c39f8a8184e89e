-- Messenger channels: a tenant's Telegram bot or WhatsApp number that
-- answers with one of the tenant's agents or graphs. Secrets are sealed with
-- the operator's secrets key (the bot token, the WhatsApp access token and
-- app secret); the webhook secret a request must present is kept as its
-- SHA-256. One live channel of each kind per tenant.
CREATE TABLE channels (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    user_id            TEXT NOT NULL,
    kind               TEXT NOT NULL,          -- telegram | whatsapp
    target_kind        TEXT NOT NULL,          -- agent | graph
    target_id          TEXT NOT NULL,
    -- What the bot is called (the Telegram username, the WhatsApp number).
    name               TEXT NOT NULL,
    -- WhatsApp: the phone number id messages are sent from.
    account_ref        TEXT,
    sealed_token       BLOB NOT NULL,
    sealed_app_secret  BLOB,
    secret_hash        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    disconnected_at    TEXT
);
CREATE UNIQUE INDEX channels_live_per_kind ON channels (tenant_id, kind) WHERE disconnected_at IS NULL;

-- Each chat of a channel is one sandbox session; `/reset` starts another.
CREATE TABLE channel_chats (
    channel_id       TEXT NOT NULL REFERENCES channels (id),
    chat_ref         TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    last_inbound_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, chat_ref)
);

-- The messages a channel received and sent, for the Channels screen; an
-- inbound message's `dedupe_key` (the update or message id) makes a
-- delivery sent again one row, handled once.
CREATE TABLE channel_messages (
    id          TEXT PRIMARY KEY NOT NULL,
    channel_id  TEXT NOT NULL REFERENCES channels (id),
    chat_ref    TEXT NOT NULL,
    direction   TEXT NOT NULL,                 -- in | out
    text        TEXT NOT NULL,
    status      TEXT NOT NULL,                 -- received, answered, refused, sent, failed, window_closed
    detail      TEXT,
    dedupe_key  TEXT UNIQUE,
    at          TEXT NOT NULL
);
CREATE INDEX channel_messages_by_channel ON channel_messages (channel_id, at);
