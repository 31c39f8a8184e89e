-- The event log: what happened on the server, one row per event, appended in
-- the same transaction as the change it records (an account registered, a
-- sign-in, a plan or subscription changed, an invoice paid or failed, a run
-- finished, an API call, an admin action). It holds no personal data beyond
-- the ids of the tenant and user it concerns; deleting a user redacts those
-- two ids, the only change the log allows, so the revenue history survives.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    -- The UTC day of `at`, `YYYY-MM-DD`: what the daily rollup groups by.
    day        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    tenant_id  TEXT,
    user_id    TEXT,
    -- What the event is about besides the user: a subscription, an invoice,
    -- a graph (`''` for nothing).
    subject    TEXT NOT NULL DEFAULT '',
    -- The event's facts as JSON (orrery_domain::revenue for subscriptions).
    data       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_day ON events (day, seq);
CREATE INDEX events_by_user ON events (user_id, seq);
CREATE INDEX events_by_kind ON events (kind, day);
CREATE INDEX events_by_subject ON events (subject, kind);

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
CREATE TRIGGER events_only_redaction BEFORE UPDATE ON events
WHEN NOT (NEW.seq = OLD.seq AND NEW.at = OLD.at AND NEW.day = OLD.day AND NEW.kind = OLD.kind
          AND NEW.subject = OLD.subject AND NEW.data = OLD.data
          AND NEW.tenant_id IS NULL AND NEW.user_id IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

-- Daily rollups of the event log (orrery_domain::revenue::DailyFigures): the
-- overview reads these, however long the log grows. Derived data: rebuilt
-- from the events at any time with the same result.
CREATE TABLE metrics_daily (
    day                     TEXT PRIMARY KEY NOT NULL,
    users_new               INTEGER NOT NULL,
    users_deleted           INTEGER NOT NULL,
    users_total             INTEGER NOT NULL,
    sign_ins                INTEGER NOT NULL,
    mrr_cents               INTEGER NOT NULL,
    new_mrr_cents           INTEGER NOT NULL,
    reactivation_mrr_cents  INTEGER NOT NULL,
    expansion_mrr_cents     INTEGER NOT NULL,
    contraction_mrr_cents   INTEGER NOT NULL,
    churned_mrr_cents       INTEGER NOT NULL,
    paying_subscriptions    INTEGER NOT NULL,
    subscriptions_started   INTEGER NOT NULL,
    subscriptions_churned   INTEGER NOT NULL,
    trials                  INTEGER NOT NULL,
    trials_started          INTEGER NOT NULL,
    trials_converted        INTEGER NOT NULL,
    trials_lost             INTEGER NOT NULL,
    invoices_paid           INTEGER NOT NULL,
    invoices_failed         INTEGER NOT NULL,
    runs                    INTEGER NOT NULL,
    run_errors              INTEGER NOT NULL,
    tokens                  INTEGER NOT NULL,
    run_latency_ms          INTEGER NOT NULL,
    api_calls               INTEGER NOT NULL
);

-- A subscription's price as monthly recurring revenue (cents), as Stripe
-- last reported it. Subscriptions learned before this column existed take
-- their plan's price.
ALTER TABLE subscriptions ADD COLUMN mrr_cents INTEGER NOT NULL DEFAULT 0;
-- Whether it ever paid (counted toward MRR): a customer who paid before and
-- pays again is a reactivation, not new revenue.
ALTER TABLE subscriptions ADD COLUMN ever_paid INTEGER NOT NULL DEFAULT 0;
UPDATE subscriptions SET mrr_cents = COALESCE((
    SELECT CASE json_extract(plans.definition, '$.interval')
               WHEN 'year' THEN (json_extract(plans.definition, '$.price_cents') * 2 + 12) / 24
               ELSE json_extract(plans.definition, '$.price_cents') END
    FROM plans WHERE plans.key = subscriptions.plan_key), 0);
UPDATE subscriptions SET ever_paid = 1 WHERE status IN ('active', 'past_due', 'canceled', 'unpaid');

-- What happened before the log existed, as far as the tables tell it.
INSERT INTO events (at, day, kind, tenant_id, user_id)
    SELECT created_at, substr(created_at, 1, 10), 'account.registered', tenant_id, id
    FROM users ORDER BY created_at, id;
INSERT INTO events (at, day, kind, tenant_id, user_id, subject, data)
    SELECT updated_at, substr(updated_at, 1, 10), 'subscription.created', tenant_id, user_id,
           stripe_subscription_id,
           json_object('subscription', stripe_subscription_id, 'plan', plan_key, 'before', NULL,
                       'after', json_object('status', status, 'mrr_cents', mrr_cents),
                       'customer_paid_before', json('false'))
    FROM subscriptions ORDER BY updated_at, stripe_subscription_id;
