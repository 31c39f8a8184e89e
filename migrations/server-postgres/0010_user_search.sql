-- server/0014 on PostgreSQL: trigram indexes (pg_trgm, a trusted extension
-- shipped with PostgreSQL) answer the admin's search for any part of an
-- address or a name from the index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_email_trigrams ON users USING gin (LOWER(email) gin_trgm_ops);
CREATE INDEX users_name_trigrams ON users USING gin (LOWER(name) gin_trgm_ops);
