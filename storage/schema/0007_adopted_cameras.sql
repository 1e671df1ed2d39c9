-- 0007_adopted_cameras: ONVIF devices an admin adopted in the web UI (issue 6). They record beside the
-- config file's cameras, from the next start too; the config file wins on a name clash.
--
-- Portable SQL; see the rules at the top of 0001_initial.sql. No credentials are stored: an adopted
-- camera uses the [discovery] username and password (the ones that answered during discovery), and the
-- stream URIs are stored with any user:password@ stripped.

CREATE TABLE adopted_cameras (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT,
    onvif_host TEXT NOT NULL,
    onvif_port INTEGER NOT NULL,
    endpoint TEXT,                  -- the WS-Discovery endpoint reference (urn:uuid:...), if announced
    main_uri TEXT NOT NULL,         -- RTSP main stream, without credentials
    sub_uri TEXT,                   -- RTSP sub stream, without credentials
    kelurahan TEXT,
    kecamatan TEXT,
    manufacturer TEXT,
    model TEXT,
    serial TEXT,
    adopted_by TEXT NOT NULL,
    adopted_at BIGINT NOT NULL,
    UNIQUE (onvif_host, onvif_port),
    CHECK (name <> '' AND onvif_port BETWEEN 1 AND 65535)
);
