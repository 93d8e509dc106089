-- A transcript is news for the server's subscribers (TranscriptReady) once, whoever
-- made it: a server's worker, or `switchboard recordings transcribe` in a process with
-- no bus. announced_at is the claim; a new transcript (or a redone one) wakes the
-- servers by NOTIFY after its commit, and the first to claim it publishes it.
ALTER TABLE transcripts ADD COLUMN announced_at timestamptz;
-- Transcripts made before this column existed are old news.
UPDATE transcripts SET announced_at = created_at;
CREATE INDEX transcripts_unannounced_idx ON transcripts (recording_id)
    WHERE announced_at IS NULL;

CREATE FUNCTION transcripts_announce_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.announced_at IS NULL THEN
        PERFORM pg_notify('recording_transcript', NEW.recording_id::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER transcripts_announce AFTER INSERT OR UPDATE OF segments ON transcripts
    FOR EACH ROW EXECUTE FUNCTION transcripts_announce_notify();
