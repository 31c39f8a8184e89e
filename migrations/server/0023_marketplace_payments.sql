-- Paid marketplace listings (F22, F23): sellers' Stripe connected accounts,
-- the Checkout Session and payment behind each paid purchase, the
-- append-only transactions ledger, and the payouts Stripe reports.

-- A seller's Stripe connected account (Connect, Express) and what Stripe
-- says it may do; `onboarding_token` is the SHA-256 of the token that names
-- it in the links Stripe sends the browser back to (a new token with each
-- link), without naming the account.
CREATE TABLE marketplace_sellers (
    tenant_id          TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    user_id            TEXT NOT NULL,
    stripe_account     TEXT NOT NULL UNIQUE,
    onboarding_token   TEXT NOT NULL UNIQUE,
    charges_enabled    INTEGER NOT NULL DEFAULT 0,
    payouts_enabled    INTEGER NOT NULL DEFAULT 0,
    details_submitted  INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

-- A paid purchase waits (`pending`) for its Checkout Session to be paid
-- (`expired` once a session expired unpaid; Buy opens it again).
-- `checkout_attempt` counts the sessions made for it (a new one only once
-- the last expired), and names the idempotency key of each.
ALTER TABLE marketplace_purchases ADD COLUMN checkout_session TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN checkout_url TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN checkout_expires_at TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN checkout_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE marketplace_purchases ADD COLUMN payment_intent TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN seller_account TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN refunded_at TEXT;
ALTER TABLE marketplace_purchases ADD COLUMN refund_reason TEXT;
CREATE UNIQUE INDEX marketplace_purchases_by_checkout ON marketplace_purchases (checkout_session);
CREATE INDEX marketplace_purchases_by_payment ON marketplace_purchases (payment_intent);
-- Partial, so that neither is taken for other states (a buyer's purchases
-- are found by buyer, not among a million paid ones).
CREATE INDEX marketplace_purchases_awaiting ON marketplace_purchases (created_at)
    WHERE state = 'pending';
CREATE INDEX marketplace_purchases_undelivered ON marketplace_purchases (created_at)
    WHERE state = 'paid' AND delivered_item IS NULL;

-- The money: one row per sale, platform fee, refund and fee refund, never
-- changed or removed. Amounts are minor units, signed from the seller's
-- side of the sale: `sale` +price, `fee` +commission, `refund` -price,
-- `fee_refund` -commission; the seller's net is sale + refund - fee -
-- fee_refund. `stripe_ref` is Stripe's object behind it (the payment or
-- the refund), so a row is written once however often it is reported.
CREATE TABLE marketplace_transactions (
    id             TEXT PRIMARY KEY NOT NULL,
    purchase_id    TEXT NOT NULL REFERENCES marketplace_purchases (id),
    listing_id     TEXT NOT NULL,
    seller_tenant  TEXT NOT NULL,
    buyer_user     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    stripe_ref     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (kind, stripe_ref)
);
CREATE INDEX marketplace_transactions_of_seller ON marketplace_transactions (seller_tenant, created_at);
CREATE INDEX marketplace_transactions_of_purchase ON marketplace_transactions (purchase_id);
CREATE TRIGGER marketplace_transactions_never_change BEFORE UPDATE ON marketplace_transactions BEGIN
    SELECT RAISE(ABORT, 'the marketplace ledger is append-only');
END;
CREATE TRIGGER marketplace_transactions_never_go BEFORE DELETE ON marketplace_transactions BEGIN
    SELECT RAISE(ABORT, 'the marketplace ledger is append-only');
END;

-- Payouts from a seller's Stripe balance to their bank, as Stripe reports them.
CREATE TABLE marketplace_payouts (
    id              TEXT PRIMARY KEY NOT NULL,
    seller_tenant   TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    arrival_date    TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX marketplace_payouts_of_seller ON marketplace_payouts (seller_tenant, arrival_date);

-- A Stripe event is `done` once processed; one taken up but not done (the
-- server stopped mid-way) is taken up again by Stripe's retry once its
-- claim (`processed_at`) is five minutes old. Events stored before this
-- were processed.
ALTER TABLE stripe_events ADD COLUMN done INTEGER NOT NULL DEFAULT 1;
