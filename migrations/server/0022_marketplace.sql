-- The marketplace (F22, F23): listings of agents and prompts, the versions
-- published under them (immutable, named by their content's SHA-256),
-- purchases (one per buyer and listing), reviews and reports.

CREATE TABLE marketplace_listings (
    id               TEXT PRIMARY KEY NOT NULL,
    seller_tenant    TEXT NOT NULL REFERENCES tenants (id),
    seller_user      TEXT NOT NULL,
    kind             TEXT NOT NULL,           -- agent or prompt
    item_id          TEXT NOT NULL,           -- the seller's library document
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    tags             TEXT NOT NULL,           -- normalised, separated by spaces
    pricing          TEXT NOT NULL,           -- free, one_off or monthly
    price_minor      INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    state            TEXT NOT NULL,           -- listed or delisted
    current_version  TEXT NOT NULL,
    purchases        INTEGER NOT NULL DEFAULT 0,
    rating_sum       INTEGER NOT NULL DEFAULT 0,
    rating_count     INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (seller_tenant, kind, item_id)
);
CREATE INDEX marketplace_listed_newest ON marketplace_listings (state, created_at);
CREATE INDEX marketplace_listed_by_price ON marketplace_listings (state, price_minor);
CREATE INDEX marketplace_listed_by_purchases ON marketplace_listings (state, purchases);

-- Full-text search over title, tags and description, kept in step with the
-- listings by triggers. Words are split on anything not a letter or digit.
CREATE VIRTUAL TABLE marketplace_search USING fts5(
    title, tags, description,
    content = 'marketplace_listings', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER marketplace_search_insert AFTER INSERT ON marketplace_listings BEGIN
    INSERT INTO marketplace_search (rowid, title, tags, description)
    VALUES (new.rowid, new.title, new.tags, new.description);
END;
CREATE TRIGGER marketplace_search_delete AFTER DELETE ON marketplace_listings BEGIN
    INSERT INTO marketplace_search (marketplace_search, rowid, title, tags, description)
    VALUES ('delete', old.rowid, old.title, old.tags, old.description);
END;
CREATE TRIGGER marketplace_search_update AFTER UPDATE OF title, tags, description ON marketplace_listings BEGIN
    INSERT INTO marketplace_search (marketplace_search, rowid, title, tags, description)
    VALUES ('delete', old.rowid, old.title, old.tags, old.description);
    INSERT INTO marketplace_search (rowid, title, tags, description)
    VALUES (new.rowid, new.title, new.tags, new.description);
END;

-- Each version published under a listing: the item as JSON, what buyers
-- are shown of it, and its number (1, 2, ...).
CREATE TABLE marketplace_versions (
    listing_id   TEXT NOT NULL REFERENCES marketplace_listings (id),
    version      TEXT NOT NULL,
    number       INTEGER NOT NULL,
    content      TEXT NOT NULL,
    preview      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (listing_id, version)
);

-- One purchase per buyer and listing; `delivered_item` is the copy in the
-- buyer's library.
CREATE TABLE marketplace_purchases (
    id              TEXT PRIMARY KEY NOT NULL,
    listing_id      TEXT NOT NULL REFERENCES marketplace_listings (id),
    version         TEXT NOT NULL,
    buyer_tenant    TEXT NOT NULL,
    buyer_user      TEXT NOT NULL,
    state           TEXT NOT NULL,            -- pending, paid or refunded
    amount_minor    INTEGER NOT NULL,
    fee_minor       INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    delivered_item  TEXT,
    -- When a request began delivering it: another may take over once this
    -- is a minute old (the first stopped before it was done).
    delivery_started_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    paid_at         TEXT,
    UNIQUE (listing_id, buyer_user)
);
CREATE INDEX marketplace_purchases_of_buyer ON marketplace_purchases (buyer_user, created_at);

-- One review per buyer and listing, editable.
CREATE TABLE marketplace_reviews (
    listing_id   TEXT NOT NULL REFERENCES marketplace_listings (id),
    buyer_user   TEXT NOT NULL,
    buyer_name   TEXT NOT NULL,
    rating       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (listing_id, buyer_user)
);

-- What people reported about a listing, for the admins.
CREATE TABLE marketplace_reports (
    id            TEXT PRIMARY KEY NOT NULL,
    listing_id    TEXT NOT NULL REFERENCES marketplace_listings (id),
    reporter_user TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (listing_id, reporter_user)
);
