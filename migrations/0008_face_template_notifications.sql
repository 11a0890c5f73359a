-- Central keeps every face template's sign bits in memory and scans them
-- for recognition's candidates (central/src/recognize/index.rs): at
-- 100 000 templates the HNSW index of migration 0007 cost 9 ms a search
-- at the median on the 2-core machines, the scan about one. Every central
-- instance follows this table through these notifications: the payload
-- is the id of a template inserted, changed or deleted (cascades from a
-- deleted person included); the follower reads that id again, so the
-- notification needs to say nothing else. A TRUNCATE sends '*': read
-- everything again. The HNSW index stays: it is what the search uses
-- while an instance's follower is (re)connecting.
CREATE FUNCTION face_templates_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('atrium_face_templates', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('atrium_face_templates', OLD.id::text);
    ELSE
        PERFORM pg_notify('atrium_face_templates', NEW.id::text);
        IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
            PERFORM pg_notify('atrium_face_templates', OLD.id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER face_templates_notify_row
    AFTER INSERT OR UPDATE OR DELETE ON face_templates
    FOR EACH ROW EXECUTE FUNCTION face_templates_notify();
CREATE TRIGGER face_templates_notify_truncate
    AFTER TRUNCATE ON face_templates
    FOR EACH STATEMENT EXECUTE FUNCTION face_templates_notify();
