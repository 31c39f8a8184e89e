-- Plans are data (admins change them without a release); usage is counted per
-- user and billing period, next to the tenant it belongs to.

CREATE TABLE plans (
    key         TEXT PRIMARY KEY NOT NULL,
    -- orrery_domain::policy::Plan as JSON: price, interval, limits, agents,
    -- channels, API keys, trial length.
    definition  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

INSERT INTO plans (key, definition, position, updated_at) VALUES
('free', '{"key":"free","name":"Free","price_cents":0,"interval":"month","limits":{"runs":100,"tokens":200000,"api_calls":0,"graphs":10,"nodes_per_graph":500},"agents":{"kind":"only","agents":["helper","researcher"]},"channels":[],"api_keys":false,"trial_days":0}', 0, '2026-11-23T00:00:00.000Z'),
('pro', '{"key":"pro","name":"Pro","price_cents":1900,"interval":"month","limits":{"runs":5000,"tokens":5000000,"api_calls":10000,"graphs":null,"nodes_per_graph":20000},"agents":{"kind":"all"},"channels":["telegram"],"api_keys":true,"trial_days":14}', 1, '2026-11-23T00:00:00.000Z'),
('enterprise', '{"key":"enterprise","name":"Enterprise","price_cents":9900,"interval":"month","limits":{"runs":null,"tokens":null,"api_calls":null,"graphs":null,"nodes_per_graph":null},"agents":{"kind":"all"},"channels":["telegram","whatsapp"],"api_keys":true,"trial_days":14}', 2, '2026-11-23T00:00:00.000Z');

-- Counts of per-period metrics (runs, tokens, api_calls). `period` is the
-- billing month, `YYYY-MM`, in UTC.
CREATE TABLE usage_counters (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    metric     TEXT NOT NULL,
    period     TEXT NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (tenant_id, user_id, metric, period)
);
