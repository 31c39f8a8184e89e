-- server/0013 on PostgreSQL: the event log and its daily rollups.
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    at         TEXT NOT NULL,
    day        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    tenant_id  TEXT,
    user_id    TEXT,
    subject    TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_day ON events (day, seq);
CREATE INDEX events_by_user ON events (user_id, seq);
CREATE INDEX events_by_kind ON events (kind, day);
CREATE INDEX events_by_subject ON events (subject, kind);

-- Append-only, except that deleting a user redacts their ids.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.seq = OLD.seq AND NEW.at = OLD.at AND NEW.day = OLD.day
       AND NEW.kind = OLD.kind AND NEW.subject = OLD.subject AND NEW.data = OLD.data
       AND NEW.tenant_id IS NULL AND NEW.user_id IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the event log is append-only';
END;
$$;
CREATE TRIGGER events_only_redaction BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

CREATE TABLE metrics_daily (
    day                     TEXT PRIMARY KEY NOT NULL,
    users_new               BIGINT NOT NULL,
    users_deleted           BIGINT NOT NULL,
    users_total             BIGINT NOT NULL,
    sign_ins                BIGINT NOT NULL,
    mrr_cents               BIGINT NOT NULL,
    new_mrr_cents           BIGINT NOT NULL,
    reactivation_mrr_cents  BIGINT NOT NULL,
    expansion_mrr_cents     BIGINT NOT NULL,
    contraction_mrr_cents   BIGINT NOT NULL,
    churned_mrr_cents       BIGINT NOT NULL,
    paying_subscriptions    BIGINT NOT NULL,
    subscriptions_started   BIGINT NOT NULL,
    subscriptions_churned   BIGINT NOT NULL,
    trials                  BIGINT NOT NULL,
    trials_started          BIGINT NOT NULL,
    trials_converted        BIGINT NOT NULL,
    trials_lost             BIGINT NOT NULL,
    invoices_paid           BIGINT NOT NULL,
    invoices_failed         BIGINT NOT NULL,
    runs                    BIGINT NOT NULL,
    run_errors              BIGINT NOT NULL,
    tokens                  BIGINT NOT NULL,
    run_latency_ms          BIGINT NOT NULL,
    api_calls               BIGINT NOT NULL
);

ALTER TABLE subscriptions ADD COLUMN mrr_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN ever_paid BIGINT NOT NULL DEFAULT 0;
UPDATE subscriptions SET mrr_cents = COALESCE((
    SELECT CASE plans.definition::json ->> 'interval'
               WHEN 'year' THEN ((plans.definition::json ->> 'price_cents')::bigint * 2 + 12) / 24
               ELSE (plans.definition::json ->> 'price_cents')::bigint END
    FROM plans WHERE plans.key = subscriptions.plan_key), 0);
UPDATE subscriptions SET ever_paid = 1 WHERE status IN ('active', 'past_due', 'canceled', 'unpaid');

INSERT INTO events (at, day, kind, tenant_id, user_id)
    SELECT created_at, substr(created_at, 1, 10), 'account.registered', tenant_id, id
    FROM users ORDER BY created_at, id;
INSERT INTO events (at, day, kind, tenant_id, user_id, subject, data)
    SELECT updated_at, substr(updated_at, 1, 10), 'subscription.created', tenant_id, user_id,
           stripe_subscription_id,
           json_build_object('subscription', stripe_subscription_id, 'plan', plan_key, 'before', NULL,
                             'after', json_build_object('status', status, 'mrr_cents', mrr_cents),
                             'customer_paid_before', false)::text
    FROM subscriptions ORDER BY updated_at, stripe_subscription_id;
