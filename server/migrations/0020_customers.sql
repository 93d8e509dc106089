-- The customer store (crm_connectors): one record per person across channels, the
-- identities they reach us by, and one timeline of everything that happened with them.

CREATE TABLE customers (
    id                   bigserial PRIMARY KEY,
    display_name         text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    -- The customer's responsible manager: their interactions prefer this agent for a while.
    responsible_agent_id bigint REFERENCES users (id) ON DELETE SET NULL,
    -- A customer merged into another keeps its row (old references stay valid) and points
    -- at the survivor; it has no identities and no timeline entries of its own any more.
    merged_into          bigint REFERENCES customers (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into IS NULL OR merged_into <> id)
);
CREATE INDEX customers_merged_into_idx ON customers (merged_into) WHERE merged_into IS NOT NULL;

-- Values are stored normalised (phone and WhatsApp in E.164, e-mail lower-cased), so one
-- person reached twice by the same identity is found, not created again.
CREATE TABLE customer_identities (
    kind        text NOT NULL CHECK (kind IN ('phone', 'email', 'webchat', 'telegram', 'whatsapp')),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 320),
    customer_id bigint NOT NULL REFERENCES customers (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);

CREATE TABLE timeline_entries (
    id                   bigserial PRIMARY KEY,
    customer_id          bigint NOT NULL REFERENCES customers (id),
    -- Whom the entry was written for, kept when a merge moves it to the survivor.
    original_customer_id bigint NOT NULL REFERENCES customers (id),
    kind                 text NOT NULL CHECK (kind IN
        ('call', 'callback', 'voicemail', 'chat', 'message', 'email', 'note', 'merge')),
    at                   timestamptz NOT NULL,
    summary              text NOT NULL DEFAULT '' CHECK (length(summary) <= 2000),
    data                 jsonb NOT NULL DEFAULT '{}',
    -- The feature that wrote it and its own key for the fact: writing a fact twice (a
    -- replayed event, two processes receiving one event) is a no-op.
    source               text NOT NULL,
    source_ref           text,
    author_id            bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, source_ref)
);
CREATE INDEX timeline_entries_customer_idx ON timeline_entries (customer_id, at DESC, id DESC);
