-- Updates of the desktop app (F30): releases an admin publishes, their
-- signed packages, and the parts those packages are stored in.

-- A release: a draft while its packages are uploaded, `published` once
-- offered (to `rollout_percent` of the installations on its channel), and
-- `pulled` when an admin takes it back (no longer offered; installations
-- already on it stay there, since downgrades are refused).
CREATE TABLE releases (
    id               TEXT PRIMARY KEY NOT NULL,
    version          TEXT NOT NULL UNIQUE,
    channel          TEXT NOT NULL CHECK (channel IN ('stable', 'beta')),
    notes            TEXT NOT NULL,
    rollout_percent  INTEGER NOT NULL CHECK (rollout_percent BETWEEN 0 AND 100),
    state            TEXT NOT NULL CHECK (state IN ('draft', 'published', 'pulled')),
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    published_at     TEXT,
    pulled_at        TEXT
);

CREATE INDEX releases_offered ON releases (state, channel);

-- A release's package for one target and architecture, with the release
-- key's signature (checked against the server's release key and the
-- release's version when it was sealed). `sealed_at` is NULL while parts
-- are still being uploaded.
CREATE TABLE release_packages (
    release_id  TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    target      TEXT NOT NULL,
    arch        TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    signature   TEXT,
    size_bytes  BIGINT,
    sha256      TEXT,
    parts       INTEGER,
    sealed_at   TEXT,
    PRIMARY KEY (release_id, target, arch)
);

-- The bytes of a package, in parts of at most a few MiB each, so neither
-- an upload nor a download holds a whole package in memory.
CREATE TABLE release_package_parts (
    release_id  TEXT NOT NULL,
    target      TEXT NOT NULL,
    arch        TEXT NOT NULL,
    part        INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    PRIMARY KEY (release_id, target, arch, part),
    FOREIGN KEY (release_id, target, arch)
        REFERENCES release_packages (release_id, target, arch) ON DELETE CASCADE
);
