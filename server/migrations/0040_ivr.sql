-- The IVR: menus per inbound number, uploaded prompts, what happened to each call the
-- IVR handled, and voicemail messages.

-- One document per number the company is called on (validated by ivr.menus.MenuSet),
-- edited through the admin API and read by the next call: no Asterisk reload.
CREATE TABLE ivr_menus (
    number     text PRIMARY KEY CHECK (number ~ '^\+?[0-9]{1,32}$'),
    document   jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Uploaded prompts, converted to what Asterisk plays (8 kHz mono WAV); menus refer to
-- them as "prompt:<name>".
CREATE TABLE ivr_prompts (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
    -- Without the extension, as Asterisk's playback wants it.
    path        text NOT NULL,
    duration_s  double precision NOT NULL CHECK (duration_s >= 0),
    uploaded_at timestamptz NOT NULL DEFAULT now()
);

-- The IVR's facts about one call (keyed like the journal, by Asterisk's Linkedid). No
-- foreign keys: the journal row is written when the call ends, and these facts are
-- known earlier or later than that.
CREATE TABLE ivr_calls (
    call_id        text PRIMARY KEY,
    number         text NOT NULL,
    caller_number  text,
    customer_id    bigint,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    -- The menu steps the caller took: {"main", "1:department:3", ...}.
    ivr_path       text[] NOT NULL DEFAULT '{}',
    outcome        text CHECK (outcome IN ('served', 'abandoned_in_ivr',
        'abandoned_in_queue', 'voicemail', 'forwarded', 'callback_requested', 'after_hours')),
    interaction_id bigint,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ivr_calls_interaction_idx ON ivr_calls (interaction_id)
    WHERE interaction_id IS NOT NULL;

CREATE TABLE voicemails (
    id            bigserial PRIMARY KEY,
    call_id       text NOT NULL,
    number        text NOT NULL,
    caller_number text,
    customer_id   bigint,
    department_id bigint,
    -- Where the server keeps the message (a WAV file).
    path          text NOT NULL,
    duration_s    double precision NOT NULL CHECK (duration_s >= 0),
    recorded_at   timestamptz NOT NULL,
    notified_at   timestamptz,
    notify_error  text
);
CREATE INDEX voicemails_recorded_idx ON voicemails (recorded_at DESC);

-- The journal shows the IVR path beside the outcome.
ALTER TABLE calls ADD COLUMN ivr_path text[];

-- The journal row and the IVR's facts arrive in either order: whichever comes second
-- completes the journal row (ivr.repository updates rows that exist already).
CREATE FUNCTION calls_ivr_facts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    facts ivr_calls%ROWTYPE;
BEGIN
    SELECT * INTO facts FROM ivr_calls WHERE call_id = NEW.call_id;
    IF FOUND THEN
        NEW.outcome := coalesce(NEW.outcome, facts.outcome);
        NEW.ivr_path := coalesce(NEW.ivr_path, facts.ivr_path);
        NEW.interaction_id := coalesce(NEW.interaction_id, facts.interaction_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calls_ivr_facts BEFORE INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_ivr_facts();
