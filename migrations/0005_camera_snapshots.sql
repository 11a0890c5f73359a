-- The last picture of each camera, as its edge agent published it on the
-- retained `…/cam/{camera}/snapshot` topic (docs/ref/mqtt.md). One row per
-- camera, replaced only by a newer picture; the UI shows it when the
-- camera is offline and draws lines and zones on it.
CREATE TABLE camera_snapshots (
    camera_id     text PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    captured_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    width         integer NOT NULL CHECK (width > 0),
    height        integer NOT NULL CHECK (height > 0),
    image_width   integer NOT NULL CHECK (image_width > 0),
    image_height  integer NOT NULL CHECK (image_height > 0),
    jpeg          bytea NOT NULL
);
COMMENT ON TABLE camera_snapshots IS 'Latest snapshot per camera (JPEG at the detector''s size); width/height are the camera''s frame size.';
