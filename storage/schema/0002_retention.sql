-- 0002_retention: holds (footage retention must never delete), minimal events,
-- and segment indexes for the free-space floor and per-camera totals.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql.

-- A hold keeps every segment overlapping [start_time, end_time) of one camera
-- (camera_id NULL = every camera) until it expires or is released.
CREATE TABLE holds (
    id INTEGER PRIMARY KEY,
    camera_id BIGINT REFERENCES cameras (id),  -- NULL = all cameras
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,                   -- NULL = until released
    released_at BIGINT,                  -- NULL = not released
    CHECK (end_time > start_time),
    CHECK (reason <> '')
);

CREATE INDEX holds_camera_start ON holds (camera_id, start_time);
CREATE INDEX holds_released_expires ON holds (released_at, expires_at);

-- Detection events, minimal: retention keeps footage overlapping them longer.
-- The analysis issue extends this table in a later migration.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    camera_id BIGINT NOT NULL REFERENCES cameras (id),
    kind TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (end_time >= start_time)
);

CREATE INDEX events_camera_start ON events (camera_id, start_time);
-- Retention asks for events that end after the event-retention cutoff; old
-- events pile up before it, so this index keeps that query short.
CREATE INDEX events_camera_end ON events (camera_id, end_time);

-- The free-space floor deletes the oldest footage across all cameras.
CREATE INDEX segments_start ON segments (start_time);
-- Per-camera byte totals (size caps, `nvr storage`) read this index alone,
-- never the wide segment rows.
CREATE INDEX segments_camera_ok_size ON segments (camera_id, size_bytes) WHERE state = 'ok';
