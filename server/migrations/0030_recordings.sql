-- Call recordings (two raw legs → one stereo file in the store) and their transcripts.

CREATE TABLE recordings (
    id                        bigserial PRIMARY KEY,
    -- The call journal's call_id (Asterisk's Linkedid). No foreign key: a recording
    -- starts while its call is live, before the journal has a row for it.
    call_id                   text,
    department_id             bigint,
    -- The legs as MixMonitor writes them (r()/t()), named by us; kept until the
    -- stereo file is stored, so a crash before conversion loses nothing.
    customer_leg              text NOT NULL,
    agent_leg                 text NOT NULL,
    legs_removed_at           timestamptz,
    -- raw: legs on disk, not converted yet; converted: the stereo file is stored;
    -- failed: the legs could not be converted (they stay for inspection);
    -- deleted: removed by retention.
    state                     text NOT NULL DEFAULT 'raw'
        CHECK (state IN ('raw', 'converted', 'failed', 'deleted')),
    failure_reason            text,
    -- When the call (and so the writing of the legs) ended; NULL while it is live.
    ended_at                  timestamptz,
    storage_key               text,
    format                    text CHECK (format IN ('ogg', 'mp3')),
    -- The legs' sample rate: transcription decodes the stored file back to it.
    sample_rate               integer CHECK (sample_rate > 0),
    duration_s                double precision CHECK (duration_s >= 0),
    size_bytes                bigint CHECK (size_bytes >= 0),
    sha256                    text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    converted_at              timestamptz,
    deleted_at                timestamptz,
    -- NULL: not queued (not converted yet, or transcription is off).
    transcription_state       text
        CHECK (transcription_state IN ('pending', 'running', 'done', 'failed')),
    transcription_error       text,
    transcription_attempts    integer NOT NULL DEFAULT 0,
    -- A running transcription whose lease has passed belongs to a worker that died.
    transcription_lease_until timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'converted' OR (storage_key IS NOT NULL AND format IS NOT NULL
        AND duration_s IS NOT NULL AND size_bytes IS NOT NULL AND sha256 IS NOT NULL)),
    CHECK (state <> 'failed' OR failure_reason IS NOT NULL),
    CHECK (transcription_state IS DISTINCT FROM 'failed' OR transcription_error IS NOT NULL),
    CHECK (transcription_state IS DISTINCT FROM 'running'
        OR transcription_lease_until IS NOT NULL)
);

CREATE INDEX recordings_call_idx ON recordings (call_id);
-- The work queues stay small, so partial indexes keep pickup fast.
CREATE INDEX recordings_raw_idx ON recordings (id) WHERE state = 'raw';
CREATE INDEX recordings_transcription_queue_idx ON recordings (id)
    WHERE transcription_state IN ('pending', 'running');
CREATE INDEX recordings_retention_idx ON recordings (created_at)
    WHERE state IN ('converted', 'failed');

CREATE TABLE transcripts (
    recording_id  bigint PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
    model         text NOT NULL,
    -- [{"speaker": "customer"|"agent", "start": s, "end": s, "text": ...,
    --   "words": [{"word": ..., "start": s, "end": s, "conf": 0..1}]}], in time order.
    segments      jsonb NOT NULL,
    word_count    integer NOT NULL CHECK (word_count >= 0),
    -- Every utterance's text, one a line: what full-text search looks at. 'simple':
    -- no stemming, since the language is whatever the model recognises.
    text          text NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, text)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX transcripts_tsv_idx ON transcripts USING gin (tsv);
