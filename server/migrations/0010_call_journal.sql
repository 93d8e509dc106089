-- The call journal: one row per finished call (one Asterisk Linkedid), written by the
-- pbx call tracker when the call's last channel is gone.

CREATE TABLE calls (
    id                    bigserial PRIMARY KEY,
    -- Asterisk's Linkedid: seconds and a counter that restarts with Asterisk, so it
    -- is unique only together with the start time.
    call_id               text NOT NULL,
    caller_number         text,
    caller_name           text,
    caller_channel        text NOT NULL,
    destination           text,
    direction             text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    answered_by_number    text,
    answered_by_name      text,
    answered_by_channel   text,
    started_at            timestamptz NOT NULL,
    answered_at           timestamptz,
    ended_at              timestamptz NOT NULL,
    ring_seconds          double precision NOT NULL CHECK (ring_seconds >= 0),
    talk_seconds          double precision NOT NULL CHECK (talk_seconds >= 0),
    -- What happened on the wire.
    disposition           text NOT NULL
        CHECK (disposition IN ('answered', 'no_answer', 'busy', 'cancelled', 'failed')),
    hangup_by             text NOT NULL CHECK (hangup_by IN ('caller', 'callee', 'unknown')),
    hangup_cause          integer,
    hangup_cause_text     text,
    -- [{"kind": "blind"|"attended", "by_channel": ..., "to": ..., "at": ...}]
    transfers             jsonb NOT NULL DEFAULT '[]',
    channels              text[] NOT NULL,
    -- The SIP endpoints (agents' phones and other devices) that took part: what an
    -- operator's view of the journal is filtered on.
    endpoints             text[] NOT NULL DEFAULT '{}',
    -- Asterisk was out of sight when the call ended; ended_at is when we noticed.
    closed_by_resync      boolean NOT NULL DEFAULT false,
    -- Filled later by other features: the business outcome, the recording, and the
    -- interaction of the unified queue the call belongs to.
    outcome               text CHECK (outcome IN ('served', 'abandoned_in_ivr',
        'abandoned_in_queue', 'voicemail', 'forwarded', 'callback_requested', 'after_hours')),
    recording_id          bigint,
    interaction_id        bigint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at >= started_at),
    UNIQUE (call_id, started_at)
);

-- Newest first, with the id as tie-breaker: the order of the list and its cursor.
CREATE INDEX calls_started_idx ON calls (started_at DESC, id DESC);
CREATE INDEX calls_endpoints_idx ON calls USING gin (endpoints);
CREATE INDEX calls_caller_number_idx ON calls (caller_number);
CREATE INDEX calls_destination_idx ON calls (destination);
CREATE INDEX calls_answered_by_number_idx ON calls (answered_by_number);
CREATE INDEX calls_interaction_idx ON calls (interaction_id) WHERE interaction_id IS NOT NULL;
