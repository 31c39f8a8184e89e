-- Billing through Stripe. Stripe is the source of truth for subscriptions;
-- these rows are what the server last learned from it.

ALTER TABLE users ADD COLUMN payment_failed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE billing_customers (
    user_id             TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    stripe_customer_id  TEXT NOT NULL UNIQUE,
    created_at          TEXT NOT NULL
);

CREATE TABLE subscriptions (
    stripe_subscription_id  TEXT PRIMARY KEY NOT NULL,
    user_id                 TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id               TEXT NOT NULL REFERENCES tenants (id),
    plan_key                TEXT NOT NULL,
    status                  TEXT NOT NULL,
    cancel_at_period_end    INTEGER NOT NULL,
    current_period_end      TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX subscriptions_by_user ON subscriptions (tenant_id, user_id);

-- Every webhook event processed, by Stripe's event id: a replay is a no-op.
CREATE TABLE stripe_events (
    event_id      TEXT PRIMARY KEY NOT NULL,
    event_type    TEXT NOT NULL,
    processed_at  TEXT NOT NULL
);

CREATE TABLE invoices (
    stripe_invoice_id  TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    status             TEXT NOT NULL,
    amount_due         INTEGER NOT NULL,
    amount_paid        INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    hosted_url         TEXT,
    created            TEXT NOT NULL
);
CREATE INDEX invoices_by_user ON invoices (tenant_id, user_id, created);
