-- The admin's user search finds any part of an address or a name. A LIKE
-- with a leading wildcard reads every user; this FTS5 index with the trigram
-- tokenizer (case-insensitive) answers such a search for three characters
-- or more from the index. Kept in step with `users` by triggers.
CREATE VIRTUAL TABLE users_search USING fts5(
    email, name, content = 'users', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO users_search (rowid, email, name) SELECT rowid, email, name FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, email, name) VALUES (new.rowid, new.email, new.name);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, email, name) VALUES ('delete', old.rowid, old.email, old.name);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF email, name ON users BEGIN
    INSERT INTO users_search (users_search, rowid, email, name) VALUES ('delete', old.rowid, old.email, old.name);
    INSERT INTO users_search (rowid, email, name) VALUES (new.rowid, new.email, new.name);
END;
