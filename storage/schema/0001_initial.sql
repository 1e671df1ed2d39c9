-- 0001_initial: cameras, runs, segments, users, sessions, meta.
--
-- Portable SQL (SQLite and PostgreSQL). Rules, see docs/design/storage.md:
--   * timestamps are BIGINT UTC microseconds since the Unix epoch;
--   * surrogate keys are written "INTEGER PRIMARY KEY"; a PostgreSQL backend
--     rewrites exactly that phrase to an identity column;
--   * no BEGIN/COMMIT here: the migration runner wraps each file in one
--     transaction together with its schema_migrations row.

CREATE TABLE cameras (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kelurahan TEXT,
    kecamatan TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    camera_id BIGINT NOT NULL REFERENCES cameras (id),
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    reason_ended TEXT,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX runs_camera_started ON runs (camera_id, started_at);
-- At most one open run per camera.
CREATE UNIQUE INDEX runs_one_open_per_camera ON runs (camera_id) WHERE ended_at IS NULL;

CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    camera_id BIGINT NOT NULL REFERENCES cameras (id),
    run_id BIGINT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    media_duration BIGINT NOT NULL,      -- 90 kHz units
    path TEXT NOT NULL UNIQUE,           -- relative to the storage root
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,                -- lowercase hex of the file's SHA-256
    frames INTEGER NOT NULL,
    keyframes INTEGER NOT NULL,
    codec TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    state TEXT NOT NULL DEFAULT 'ok',
    created_at BIGINT NOT NULL,
    UNIQUE (run_id, seq),
    CHECK (end_time > start_time),
    CHECK (media_duration >= 0),
    CHECK (size_bytes >= 0),
    CHECK (frames >= 0 AND keyframes >= 0 AND keyframes <= frames),
    CHECK (state IN ('ok', 'garbage'))
);

CREATE INDEX segments_camera_start ON segments (camera_id, start_time);
CREATE INDEX segments_state ON segments (state);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    kelurahan TEXT,                      -- scope; NULL = all kelurahan
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK (role IN ('admin', 'operator', 'viewer'))
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
