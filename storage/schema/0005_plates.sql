-- 0005_plates: licence-plate sightings (the lpr plugin), their best crops, and the plate watchlist.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql.

-- One vehicle's plate as voted from its reads across frames.
CREATE TABLE plate_sightings (
    id INTEGER PRIMARY KEY,
    camera_id BIGINT NOT NULL REFERENCES cameras (id),
    plate TEXT NOT NULL,                    -- display form, e.g. "B 1234 XYZ"
    plate_key TEXT NOT NULL,                -- canonical search key: letters and digits only, "B1234XYZ"
    confidence DOUBLE PRECISION NOT NULL,   -- 0..1, from the vote
    reads INTEGER NOT NULL,                 -- frames whose reads were voted
    agreement DOUBLE PRECISION NOT NULL,    -- share of the reads (by weight) that spell exactly this plate
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    best_time BIGINT NOT NULL,              -- time of the frame the crop comes from
    track_id BIGINT,                        -- the vehicle track, when a vehicle model found it
    box TEXT,                               -- JSON [x0, y0, x1, y1] of the plate in the best frame, normalised
    alternatives TEXT NOT NULL DEFAULT '[]',-- JSON [[plate, reads], ...] other spellings among the reads
    footage_start BIGINT NOT NULL,          -- the recording that shows it: [footage_start, footage_end)
    footage_end BIGINT NOT NULL,
    alert_event_id BIGINT,                  -- the plate_alert event it raised (events.id), if any
    watch_plate TEXT,                       -- the watchlisted plate it matched, if any
    created_at BIGINT NOT NULL,
    CHECK (plate_key <> '' AND reads >= 1),
    CHECK (last_seen >= first_seen AND footage_end >= footage_start)
);

-- "Where was B 1234 XYZ seen?": exact and prefix search walk this index; fuzzy search filters by length.
CREATE INDEX plate_sightings_key ON plate_sightings (plate_key, best_time);
CREATE INDEX plate_sightings_time ON plate_sightings (best_time);
CREATE INDEX plate_sightings_camera_time ON plate_sightings (camera_id, best_time);

-- The best crop of each sighting, apart so that searching never reads images.
CREATE TABLE plate_crops (
    sighting_id BIGINT PRIMARY KEY REFERENCES plate_sightings (id) ON DELETE CASCADE,
    jpeg BYTEA NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);

-- Plates someone wants an alert for; entries from the config file are not stored here.
CREATE TABLE plate_watchlist (
    id INTEGER PRIMARY KEY,
    plate TEXT NOT NULL,
    plate_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    owner TEXT NOT NULL,                    -- who wants to know: an agency (OPD) or a person
    severity TEXT NOT NULL DEFAULT 'high',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    removed_at BIGINT,
    removed_by TEXT,
    CHECK (plate_key <> '' AND reason <> '' AND owner <> ''),
    CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical'))
);

-- One active entry per plate.
CREATE UNIQUE INDEX plate_watchlist_active ON plate_watchlist (plate_key) WHERE removed_at IS NULL;
