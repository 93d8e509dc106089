-- Text channels (web chat now; Telegram, SMS, WhatsApp and e-mail later): conversations,
-- their messages and attachments, blocked addresses, offline messages, web chat sites.

-- A site that embeds the chat widget: its key is in the <script> tag; visitors' sockets
-- are accepted only from its origins.
CREATE TABLE webchat_sites (
    key             text PRIMARY KEY CHECK (key ~ '^[A-Za-z0-9_-]{8,64}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    department_id   bigint NOT NULL REFERENCES departments (id),
    allowed_origins text[] NOT NULL DEFAULT '{}',
    -- Working hours (ivr.schedule's format); NULL: always open.
    schedule        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One conversation per contact on a channel: an address (the web chat visitor id, the
-- Telegram user id, the phone number) has at most one open conversation, and everything
-- it sends while that is open continues it.
CREATE TABLE conversations (
    id             bigserial PRIMARY KEY,
    channel        text NOT NULL CHECK (channel IN ('webchat', 'telegram', 'sms', 'whatsapp', 'email')),
    address        text NOT NULL CHECK (length(address) BETWEEN 1 AND 320),
    customer_id    bigint NOT NULL REFERENCES customers (id),
    department_id  bigint NOT NULL REFERENCES departments (id),
    -- The interaction of the unified queue serving it (a transfer makes a new one).
    interaction_id bigint REFERENCES interactions (id),
    -- Where it came from: the web chat site's key, a bot's name.
    source         text NOT NULL DEFAULT '',
    state          text NOT NULL CHECK (state IN ('open', 'closed')),
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    closed_by      text CHECK (closed_by IN ('customer', 'agent', 'system')),
    csat           smallint CHECK (csat BETWEEN 1 AND 5),
    csat_comment   text CHECK (length(csat_comment) <= 1000),
    rated_at       timestamptz,
    CHECK ((state = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX conversations_open_idx ON conversations (channel, address) WHERE state = 'open';
CREATE INDEX conversations_interaction_idx ON conversations (interaction_id);
CREATE INDEX conversations_customer_idx ON conversations (customer_id);
CREATE INDEX conversations_address_idx ON conversations (channel, address, id DESC);

CREATE TABLE conversation_attachments (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    content_type    text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 100),
    size            integer NOT NULL CHECK (size >= 0),
    data            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversation_messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    -- in: from the customer; out: from an agent; system: joined, transferred, closed.
    direction       text NOT NULL CHECK (direction IN ('in', 'out', 'system')),
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    body            text NOT NULL DEFAULT '' CHECK (length(body) <= 4000),
    attachment_id   bigint REFERENCES conversation_attachments (id),
    -- The sender's own id of the message: one sent again after a lost acknowledgement
    -- is stored once.
    client_ref      text CHECK (length(client_ref) <= 64),
    created_at      timestamptz NOT NULL,
    UNIQUE (conversation_id, client_ref)
);
CREATE INDEX conversation_messages_conversation_idx ON conversation_messages (conversation_id, id);

CREATE TABLE blocked_addresses (
    channel    text NOT NULL,
    address    text NOT NULL,
    blocked_by bigint REFERENCES users (id) ON DELETE SET NULL,
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, address)
);

-- Left through the offline form when nobody was available or the site was closed.
CREATE TABLE offline_messages (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL,
    address     text NOT NULL,
    source      text NOT NULL DEFAULT '',
    customer_id bigint NOT NULL REFERENCES customers (id),
    department_id bigint REFERENCES departments (id),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    contact     text NOT NULL DEFAULT '' CHECK (length(contact) <= 320),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    reason      text NOT NULL CHECK (reason IN ('nobody_available', 'after_hours')),
    client_ref  text CHECK (length(client_ref) <= 64),
    created_at  timestamptz NOT NULL,
    UNIQUE (channel, address, client_ref)
);
CREATE INDEX offline_messages_created_idx ON offline_messages (created_at DESC);
