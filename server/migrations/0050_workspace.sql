-- The operator workspace: every user's stream of events (what the operator page shows
-- live, and catches up on after a reconnect), canned responses, wrap-up codes and
-- notes, and customers' tags.

-- The last sequence number handed out per user. Taking the next numbers locks the row
-- until the transaction commits, so a user's events commit in sequence order: whoever
-- sees event N knows that every event before N is stored already.
CREATE TABLE workspace_streams (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seq     bigint NOT NULL DEFAULT 0 CHECK (seq >= 0)
);

CREATE TABLE workspace_events (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq     bigint NOT NULL,
    kind    text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    payload jsonb NOT NULL,
    -- Names the fact when several server processes see it (a domain event relayed to
    -- every process): stored once per user. NULL: only one process ever pushes it.
    key     text,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, key)
);
CREATE INDEX workspace_events_at_idx ON workspace_events (at);

-- Texts operators insert into chats; department NULL: offered to everyone.
CREATE TABLE canned_responses (
    id            bigserial PRIMARY KEY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    department_id bigint REFERENCES departments (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE disposition_codes (
    code     text PRIMARY KEY CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    label    text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    active   boolean NOT NULL DEFAULT true,
    position integer NOT NULL DEFAULT 0
);
INSERT INTO disposition_codes (code, label, position) VALUES
    ('resolved', 'Resolved', 1),
    ('follow_up', 'Follow-up needed', 2),
    ('escalated', 'Escalated', 3),
    ('wrong_number', 'Wrong number or spam', 4);

-- What the agent wrote when they finished an interaction.
CREATE TABLE wrapups (
    interaction_id bigint PRIMARY KEY REFERENCES interactions (id),
    agent_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    disposition    text NOT NULL REFERENCES disposition_codes (code),
    notes          text NOT NULL DEFAULT '' CHECK (length(notes) <= 4000),
    at             timestamptz NOT NULL
);

CREATE TABLE customer_tags (
    customer_id bigint NOT NULL REFERENCES customers (id),
    tag         text NOT NULL CHECK (length(tag) BETWEEN 1 AND 40),
    PRIMARY KEY (customer_id, tag)
);
