-- Facts about the server that hold once: `first_account` names the account
-- that administers it. Whoever inserts the row first is the admin, so two
-- first registrations at once cannot both become one.
CREATE TABLE server_facts (
    fact   TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
INSERT INTO server_facts (fact, value)
    SELECT 'first_account', id FROM users WHERE role = 'admin' ORDER BY created_at, id LIMIT 1;

-- What each API key may do, space-separated (`orrery_domain::api_scope`).
-- Keys made before scopes existed keep what they could do.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL
    DEFAULT 'graphs:read graphs:write library:read library:write account:read live';
