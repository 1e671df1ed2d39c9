-- 0008_kelurahan: the kelurahan sharing plugin (issue 8): the kelurahan roles, share links, escalations of
-- events to an agency, and the webhook delivery log.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql.

-- The role CHECK of users gains 'duty_officer' and 'kelurahan_viewer' (users.kelurahan then holds their
-- scope: a kelurahan, or "kecamatan:<name>"). A CHECK cannot be altered portably, so users is rebuilt as
-- in 0004, with the two tables that refer to it (sessions, api_tokens); ids are copied, nothing else changes.
CREATE TABLE users_new (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    kelurahan TEXT,                      -- scope; NULL = all kelurahan; "kecamatan:<name>" = a whole kecamatan
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK (role IN ('admin', 'investigator', 'operator', 'viewer', 'duty_officer', 'kelurahan_viewer')),
    CHECK (role NOT IN ('duty_officer', 'kelurahan_viewer') OR kelurahan IS NOT NULL)
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

CREATE TABLE api_tokens_new (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users_new (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    CHECK (label <> '')
);

INSERT INTO api_tokens_new (id, user_id, label, token_hash, created_at, last_used_at, revoked_at)
    SELECT id, user_id, label, token_hash, created_at, last_used_at, revoked_at FROM api_tokens;

DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE sessions_new RENAME TO sessions;
ALTER TABLE api_tokens_new RENAME TO api_tokens;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- A share link: one camera's live view, or one clip of it, for whoever holds the signed URL until it expires
-- or is revoked. The URL carries "<id>.<expires_at>.<HMAC>"; the catalog keeps no secret, only the facts.
CREATE TABLE kelurahan_shares (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- live, clip
    start_time BIGINT,                   -- clip only
    end_time BIGINT,
    label TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    uses INTEGER NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    CHECK (kind IN ('live', 'clip')),
    CHECK (kind = 'live' OR (start_time IS NOT NULL AND end_time IS NOT NULL AND end_time > start_time)),
    CHECK (expires_at > created_at)
);

CREATE INDEX kelurahan_shares_camera ON kelurahan_shares (camera);

-- An event handed to the agency (OPD) responsible for it, by a duty officer or operator.
CREATE TABLE kelurahan_escalations (
    id INTEGER PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    agency TEXT NOT NULL,
    note TEXT,
    escalated_by TEXT NOT NULL,
    escalated_at BIGINT NOT NULL,
    CHECK (agency <> '')
);

CREATE INDEX kelurahan_escalations_event ON kelurahan_escalations (event_id);

-- One notification to one webhook, and how its delivery went (tries with backoff until delivered or failed).
CREATE TABLE kelurahan_deliveries (
    id INTEGER PRIMARY KEY,
    webhook TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- event, escalation
    event_id BIGINT,
    payload TEXT NOT NULL,               -- the JSON body sent (signed as is)
    state TEXT NOT NULL,                 -- pending, delivered, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    CHECK (state IN ('pending', 'delivered', 'failed'))
);

CREATE INDEX kelurahan_deliveries_created ON kelurahan_deliveries (created_at);
