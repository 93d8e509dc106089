-- Web callback: a visitor's request to be called, its attempts, and the hits the abuse
-- limits count. The request is the truth about the callback; routing's interaction is
-- its place in the queue for one attempt.

CREATE TABLE callback_requests (
    -- Random (gen_random_uuid): the only handle a visitor gets, so one request's
    -- status never tells anything about another's.
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The widget's site key, or 'ivr' for a caller who pressed 1.
    site             text NOT NULL,
    phone            text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name             text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    page             text NOT NULL DEFAULT '' CHECK (length(page) <= 500),
    comment          text NOT NULL DEFAULT '' CHECK (length(comment) <= 500),
    preferred_at     timestamptz,
    status           text NOT NULL CHECK (status IN
        ('queued', 'scheduled', 'calling', 'completed', 'failed', 'cancelled')),
    -- Why it ended (answered, no_answer, busy, ...), for the visitor and the journal.
    outcome          text,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    customer_id      bigint NOT NULL,
    department_id    bigint NOT NULL,
    priority         integer NOT NULL DEFAULT 0,
    -- The interaction of the current (or last) attempt in the unified queue.
    interaction_id   bigint UNIQUE,
    -- The offer currently ringing an agent for it: one process originates per offer.
    offer_id         bigint,
    client_ip        text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    CHECK ((status IN ('completed', 'failed', 'cancelled')) = (ended_at IS NOT NULL)),
    CHECK (status <> 'scheduled' OR next_attempt_at IS NOT NULL)
);

-- One pending request per number: a second request for it finds the first.
CREATE UNIQUE INDEX callback_requests_pending_phone_idx ON callback_requests (phone)
    WHERE status IN ('queued', 'scheduled', 'calling');
CREATE INDEX callback_requests_due_idx ON callback_requests (next_attempt_at)
    WHERE status = 'scheduled';
CREATE INDEX callback_requests_calling_idx ON callback_requests (updated_at)
    WHERE status = 'calling';
CREATE INDEX callback_requests_phone_created_idx ON callback_requests (phone, created_at);

-- One attempt = one agent who answered and the visitor dialled after. Keyed by the
-- offer that rang the agent, so a result reported twice (Asterisk's event and the
-- recovery's look-up in its database) settles the attempt once.
CREATE TABLE callback_attempts (
    request_id   uuid NOT NULL REFERENCES callback_requests (id),
    offer_id     bigint NOT NULL,
    number       integer NOT NULL CHECK (number >= 1),
    agent_id     bigint NOT NULL,
    interaction_id bigint NOT NULL,
    -- The agent's channel that dials the visitor, and its call (Asterisk's Linkedid).
    channel      text NOT NULL,
    call_id      text NOT NULL,
    started_at   timestamptz NOT NULL,
    -- Asterisk's DIALSTATUS (ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL, CANCEL),
    -- or LOST when Asterisk lost the call without a word.
    result       text,
    ended_at     timestamptz,
    PRIMARY KEY (request_id, offer_id),
    UNIQUE (request_id, number)
);
CREATE INDEX callback_attempts_call_idx ON callback_attempts (call_id);
CREATE INDEX callback_attempts_open_idx ON callback_attempts (started_at) WHERE result IS NULL;

-- Every POST that got past the honeypot, refused or not: what the per-address limit
-- counts.
CREATE TABLE callback_hits (
    id        bigserial PRIMARY KEY,
    client_ip text NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX callback_hits_ip_idx ON callback_hits (client_ip, at);

-- The call journal's business outcome learns the callback's.
ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
ALTER TABLE calls ADD CONSTRAINT calls_outcome_check CHECK (outcome IN ('served',
    'abandoned_in_ivr', 'abandoned_in_queue', 'voicemail', 'forwarded',
    'callback_requested', 'after_hours', 'callback_answered', 'callback_not_reached'));
