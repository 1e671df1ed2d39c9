-- 0006_api_tokens: bearer tokens for machines (Prometheus, dashboards, integrations), one user each.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql. Only the token's SHA-256 is stored.

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    CHECK (label <> '')
);

CREATE INDEX api_tokens_user ON api_tokens (user_id);
