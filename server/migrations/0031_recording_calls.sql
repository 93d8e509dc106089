-- Recordings of live calls, and their link to the call journal.

-- The journal is unique on (call_id, started_at) only (Asterisk reuses ids after a
-- restart), so a recording keeps the call's start as the tracker saw it. The customer
-- is the one routing offered the call for, when it did.
ALTER TABLE recordings
    ADD COLUMN call_started_at timestamptz,
    ADD COLUMN customer_id bigint,
    -- When calls.recording_id was set for it (and the timeline told): at most once.
    ADD COLUMN linked_at timestamptz;

-- What the linker looks at: stored recordings still waiting for their journal row.
CREATE INDEX recordings_unlinked_idx ON recordings (call_id, call_started_at)
    WHERE state = 'converted' AND linked_at IS NULL AND call_started_at IS NOT NULL;

-- The journal row and the stored recording arrive in either order. The recording side
-- links when it is stored; a new journal row wakes the linker (recording.linking)
-- after its commit, so whichever of the two commits second is seen by a link attempt.
CREATE FUNCTION calls_recording_link_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recording_link', NEW.call_id);
    RETURN NULL;
END $$;
CREATE TRIGGER calls_recording_link AFTER INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_recording_link_notify();
