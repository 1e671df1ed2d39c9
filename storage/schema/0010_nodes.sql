-- 0010_nodes: recorder nodes sharing one (PostgreSQL) catalog, camera leases, and which node holds footage.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql. A single server (SQLite or PostgreSQL without
-- `nvr run --node`) never writes these tables and leaves the node columns NULL ("this server").
-- docs/design/scale-out.md describes the protocol; the PostgreSQL backend adds triggers that stamp runs and
-- segments with their node and lease generation and refuse (fence) a segment whose run's lease was lost.

-- One row per node that ever joined: its heartbeat says it is alive.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    url TEXT,                            -- base URL of its web server, for the internal footage API
    capacity INTEGER NOT NULL,           -- how many cameras it records at most (balancing weight)
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,        -- catalog server time (µs) of its latest lease cycle
    stopped_at BIGINT,                   -- set by a clean stop; NULL while running (or after a crash)
    CHECK (name <> '' AND capacity >= 0)
);

-- One lease per camera: the node that records it now. A holder renews expires_at every cycle; once it has
-- passed, any node may take the camera over, which bumps generation (the fencing token).
CREATE TABLE camera_leases (
    camera_id BIGINT PRIMARY KEY REFERENCES cameras (id),
    node TEXT,                           -- holder; NULL = free
    generation BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0,
    pinned_node TEXT,                    -- from the config: record here while that node is alive
    updated_at BIGINT NOT NULL
);

CREATE INDEX camera_leases_node ON camera_leases (node);

-- Who recorded a run, under which lease generation; which node's disk holds a segment's file.
ALTER TABLE runs ADD COLUMN node TEXT;
ALTER TABLE runs ADD COLUMN lease_generation BIGINT;
ALTER TABLE segments ADD COLUMN node TEXT;
