-- 0004_exports: persistent evidence-export jobs, the audit log, and the
-- "investigator" role (between operator and admin) for the users who export.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql.

-- One export job: cameras x [start_time, end_time) -> one signed ZIP bundle.
-- A job that is queued, or running with a stale heartbeat (its process died),
-- is picked up again by the next export service that starts.
CREATE TABLE export_jobs (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,                 -- queued, running, done, failed
    cameras TEXT NOT NULL,               -- JSON list of camera names, in request order
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    case_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,            -- user name, or "cli:<login>" for `nvr export`
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,                   -- the latest attempt's start
    finished_at BIGINT,
    hold BOOLEAN NOT NULL DEFAULT FALSE,
    hold_ids TEXT NOT NULL DEFAULT '[]', -- JSON list of holds.id taken for this job
    output_path TEXT NOT NULL,           -- absolute path of the bundle (written as <path>.part first)
    bytes_total BIGINT NOT NULL DEFAULT 0,
    bytes_done BIGINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,                          -- "<host>:<pid>:<nonce>" of the process running it
    heartbeat_at BIGINT,                 -- the owner's latest sign of life
    error TEXT,
    result TEXT,                         -- JSON summary once done (sizes, hashes, gaps)
    CHECK (state IN ('queued', 'running', 'done', 'failed')),
    CHECK (end_time > start_time),
    CHECK (case_number <> '' AND reason <> '')
);

CREATE INDEX export_jobs_state ON export_jobs (state);

-- Who did what, for accountability: exports, downloads, and later other actions.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,                -- dotted verb, e.g. export.create, footage.download
    target TEXT,                         -- what it was done to, e.g. export:12, camera:menteng-1
    detail TEXT NOT NULL DEFAULT '{}',   -- JSON object
    CHECK (actor <> '' AND action <> '')
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);

-- The role CHECK of users gains 'investigator'. A CHECK cannot be altered
-- portably, so users is rebuilt; sessions is rebuilt with it because it refers
-- to users (PostgreSQL refuses to drop a referenced table, and SQLite would
-- cascade the drop into sessions). Ids are copied, so nothing else changes.
CREATE TABLE users_new (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    kelurahan TEXT,                      -- scope; NULL = all kelurahan
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK (role IN ('admin', 'investigator', 'operator', 'viewer'))
);

INSERT INTO users_new (id, username, password_hash, role, kelurahan, created_at, disabled)
    SELECT id, username, password_hash, role, kelurahan, created_at, disabled FROM users;

CREATE TABLE sessions_new (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users_new (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

INSERT INTO sessions_new (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at)
    SELECT token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at FROM sessions;

DROP TABLE sessions;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
