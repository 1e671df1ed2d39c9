-- 0003_events: what analysis needs of an event (label, score, track, zones,
-- severity, agency, pre/post-roll, acknowledgement) and its best snapshot.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql. BYTEA is
-- PostgreSQL's binary type; SQLite stores the bytes unchanged under any name.

ALTER TABLE events ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN score DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN ongoing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN track_id BIGINT;
ALTER TABLE events ADD COLUMN box TEXT;             -- JSON [x0, y0, x1, y1], normalised
ALTER TABLE events ADD COLUMN zones TEXT NOT NULL DEFAULT '[]';   -- JSON list of zone names
ALTER TABLE events ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';
ALTER TABLE events ADD COLUMN agency TEXT;
ALTER TABLE events ADD COLUMN rule TEXT;
ALTER TABLE events ADD COLUMN pre_roll BIGINT NOT NULL DEFAULT 0;  -- µs before start_time the footage starts
ALTER TABLE events ADD COLUMN post_roll BIGINT NOT NULL DEFAULT 0; -- µs after end_time the footage ends
ALTER TABLE events ADD COLUMN updated_at BIGINT;
ALTER TABLE events ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE events ADD COLUMN acknowledged_by TEXT;
ALTER TABLE events ADD COLUMN ack_note TEXT;

-- The events page lists the newest first, across cameras or for one label.
CREATE INDEX events_start ON events (start_time);
CREATE INDEX events_label_start ON events (label, start_time);
-- Events still open when the server stopped are ended at the next start.
CREATE INDEX events_ongoing ON events (ongoing) WHERE ongoing;

-- The best JPEG of each event, apart so that listing events never reads images.
CREATE TABLE event_snapshots (
    event_id BIGINT PRIMARY KEY REFERENCES events (id),
    jpeg BYTEA NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    taken_at BIGINT NOT NULL
);
