-- 0009_complaints: citizen complaints (the complaints plugin, issue 9), their reporters kept apart,
-- the cameras and events linked to each, and the holds that keep that footage.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql.

-- One complaint from the city app (JAKI "Lapor Warga") or an import; idempotent on external_id.
CREATE TABLE complaints (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,       -- the city app's id
    category TEXT NOT NULL,                 -- banjir, kebakaran, tawuran, macet, sampah, jalan rusak, lainnya, ...
    body TEXT NOT NULL,                     -- what the citizen wrote
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    reported_at BIGINT NOT NULL,            -- when the citizen reported it (the footage window is around this)
    received_at BIGINT NOT NULL,            -- when nvr stored it
    status TEXT NOT NULL DEFAULT 'new',
    agency TEXT,                            -- the responsible OPD, from [plugins.complaints] routing
    kelurahan TEXT,                         -- given, or that of the nearest linked camera (docs/complaints.md)
    source TEXT NOT NULL DEFAULT 'api',     -- api or csv
    linked_at BIGINT,                       -- the latest (re)linking
    responded_at BIGINT,
    closed_at BIGINT,
    updated_at BIGINT NOT NULL,
    CHECK (external_id <> '' AND category <> ''),
    CHECK (lat >= -90 AND lat <= 90 AND lon >= -180 AND lon <= 180),
    CHECK (status IN ('new', 'linked', 'in_progress', 'responded', 'closed'))
);

CREATE INDEX complaints_reported ON complaints (reported_at);
CREATE INDEX complaints_status ON complaints (status, reported_at);
CREATE INDEX complaints_kelurahan ON complaints (kelurahan, reported_at);

-- The reporter's identity: confidential, never joined into lists, pages of kelurahan users, exports or logs.
CREATE TABLE complaint_reporters (
    complaint_id BIGINT PRIMARY KEY REFERENCES complaints (id) ON DELETE CASCADE,
    name TEXT,
    contact TEXT,                           -- phone or e-mail
    reporter_ref TEXT                       -- the city app's id of the reporter
);

-- The citizen's photo, apart so that lists never read images.
CREATE TABLE complaint_photos (
    complaint_id BIGINT PRIMARY KEY REFERENCES complaints (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL
);

-- A camera near the complaint, with the footage window held for it.
CREATE TABLE complaint_cameras (
    id INTEGER PRIMARY KEY,
    complaint_id BIGINT NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
    camera_id BIGINT NOT NULL REFERENCES cameras (id),
    link_rank INTEGER NOT NULL,             -- 0 = best (facing the point, nearest)
    distance_m DOUBLE PRECISION NOT NULL,
    bearing_deg DOUBLE PRECISION NOT NULL,  -- from the camera to the point, clockwise from north
    facing INTEGER,                         -- 1 faces the point, 0 faces away, NULL direction unknown
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    hold_id BIGINT REFERENCES holds (id),
    created_at BIGINT NOT NULL,
    UNIQUE (complaint_id, camera_id),
    CHECK (end_time > start_time)
);

CREATE INDEX complaint_cameras_camera ON complaint_cameras (camera_id);

-- A detection event of a matching kind near the complaint (kebakaran <-> fire/smoke, ...).
CREATE TABLE complaint_events (
    complaint_id BIGINT NOT NULL REFERENCES complaints (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES events (id),
    hold_id BIGINT REFERENCES holds (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (complaint_id, event_id)
);
