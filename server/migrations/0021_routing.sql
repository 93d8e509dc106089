-- The unified queue: departments, agents' routing profiles and state, interactions,
-- offers, and an append-only audit log of everything that moves capacity.
--
-- Lock order, everywhere: interactions (by id) before agents (by user_id). The router
-- takes its interactions with SKIP LOCKED, so it never waits for one at all.

CREATE TABLE departments (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    -- Validated by routing.schemas.DepartmentSettings; editable at run time.
    settings   jsonb NOT NULL DEFAULT '{}',
    -- Bumped on every settings change; a waiting interaction ranked under an older
    -- version is re-ranked by the sweep.
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE department_supervisors (
    department_id bigint NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, user_id)
);
CREATE INDEX department_supervisors_user_idx ON department_supervisors (user_id);

ALTER TABLE agents
    ADD COLUMN status            text NOT NULL DEFAULT 'offline'
        CHECK (status IN ('available', 'paused', 'away', 'offline')),
    ADD COLUMN pause_reason      text CHECK (length(pause_reason) BETWEEN 1 AND 100),
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Capacity in units; each held interaction costs units by channel (see routing.capacity).
    ADD COLUMN capacity          integer NOT NULL DEFAULT 100 CHECK (capacity BETWEEN 0 AND 10000),
    -- Per-agent cost overrides, {"webchat": 50}: a novice takes two chats, not five.
    ADD COLUMN channel_costs     jsonb NOT NULL DEFAULT '{}',
    -- Wrap-up after a call; NULL: the configured default.
    ADD COLUMN wrapup_s          double precision CHECK (wrapup_s >= 0),
    -- Units held by open offers and accepted interactions (offers in state offered or
    -- accepted). Only changed together with those offers, under this row's lock.
    ADD COLUMN load              integer NOT NULL DEFAULT 0 CHECK (load >= 0),
    ADD COLUMN idle_since        timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_offer_at     timestamptz,
    ADD COLUMN missed_offers     integer NOT NULL DEFAULT 0,
    -- Bumped when capacity, costs, departments or skills change: routers cache profiles.
    ADD COLUMN profile_version   integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT agents_paused_with_reason CHECK ((status = 'paused') = (pause_reason IS NOT NULL));
-- Agents' rows are updated on every offer and completion: room for HOT updates.
ALTER TABLE agents SET (fillfactor = 70);

CREATE TABLE agent_departments (
    agent_id      bigint NOT NULL REFERENCES agents (user_id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, department_id)
);
CREATE INDEX agent_departments_department_idx ON agent_departments (department_id);

CREATE TABLE agent_skills (
    agent_id bigint NOT NULL REFERENCES agents (user_id) ON DELETE CASCADE,
    skill    text NOT NULL CHECK (skill ~ '^[a-z0-9_.-]{1,40}$'),
    level    smallint NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (agent_id, skill)
);

CREATE TABLE interactions (
    id                 bigserial PRIMARY KEY,
    channel            text NOT NULL CHECK (channel IN
        ('voice', 'callback', 'webchat', 'telegram', 'sms', 'whatsapp', 'email')),
    customer_id        bigint NOT NULL REFERENCES customers (id),
    department_id      bigint NOT NULL REFERENCES departments (id),
    -- Required skills with minimum levels, {"english": 3}.
    skills             jsonb NOT NULL DEFAULT '{}',
    priority           integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    state              text NOT NULL CHECK (state IN ('queued', 'offered', 'accepted', 'wrap_up',
        'completed', 'abandoned', 'expired', 'requeued')),
    -- Never changes, also not when requeued: an interaction keeps its place.
    enqueued_at        timestamptz NOT NULL,
    -- The queue order: enqueued_at minus the head start its channel and priority earn in
    -- its department (routing.priority). Linear aging with one rate for everyone is
    -- exactly this order, so it can be indexed.
    rank_at            timestamptz NOT NULL,
    settings_version   integer NOT NULL,
    -- When waiting ends by overflow or expiry (the department's max wait).
    wait_deadline      timestamptz,
    -- Sticky routing: only this agent until sticky_until, then everyone.
    preferred_agent_id bigint REFERENCES agents (user_id) ON DELETE SET NULL,
    sticky_until       timestamptz,
    -- {"call_id": "...", "chat_id": "..."}
    external_refs      jsonb NOT NULL DEFAULT '{}',
    -- The agent holding it (offered in queue mode, accepted, wrap-up), and by which offer
    -- (no foreign key: offers reference interactions already).
    agent_id           bigint REFERENCES agents (user_id) ON DELETE SET NULL,
    offer_id           bigint,
    -- Agents who declined or missed it: asked again only when nobody else can take it.
    declined_by        bigint[] NOT NULL DEFAULT '{}',
    offers_made        integer NOT NULL DEFAULT 0,
    requeues           integer NOT NULL DEFAULT 0,
    accepted_at        timestamptz,
    wrapup_until       timestamptz,
    ended_at           timestamptz,
    end_reason         text,
    overflow_target    text,
    -- Bumped on every change; the router re-checks it under the row lock.
    version            integer NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL
);
-- The queue itself: only waiting rows, in rank order.
CREATE INDEX interactions_waiting_idx ON interactions (rank_at, id)
    WHERE state IN ('queued', 'requeued');
CREATE INDEX interactions_wait_deadline_idx ON interactions (wait_deadline)
    WHERE state IN ('queued', 'requeued') AND wait_deadline IS NOT NULL;
CREATE INDEX interactions_wrapup_idx ON interactions (wrapup_until) WHERE state = 'wrap_up';
CREATE INDEX interactions_in_service_idx ON interactions (department_id)
    WHERE state IN ('offered', 'accepted', 'wrap_up');
CREATE INDEX interactions_completed_idx ON interactions (department_id, channel, ended_at)
    WHERE state = 'completed';
CREATE INDEX interactions_customer_idx ON interactions (customer_id);

CREATE TABLE offers (
    id             bigserial PRIMARY KEY,
    interaction_id bigint NOT NULL REFERENCES interactions (id),
    agent_id       bigint NOT NULL REFERENCES agents (user_id),
    -- Units reserved on the agent while the offer is open or accepted.
    cost           integer NOT NULL CHECK (cost > 0),
    mode           text NOT NULL CHECK (mode IN ('queue', 'ring_group')),
    -- released: the accepted interaction ended (completed, requeued) and gave its units back.
    state          text NOT NULL CHECK (state IN
        ('offered', 'accepted', 'declined', 'timed_out', 'cancelled', 'released')),
    offered_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    answered_at    timestamptz,
    ended_at       timestamptz
);
-- The database's own guarantee against double offers: per interaction at most one
-- accepted offer, and in queue mode at most one offer that is open or accepted.
CREATE UNIQUE INDEX offers_one_holder_idx ON offers (interaction_id)
    WHERE state = 'accepted' OR (mode = 'queue' AND state = 'offered');
CREATE INDEX offers_interaction_idx ON offers (interaction_id);
CREATE INDEX offers_expiry_idx ON offers (expires_at) WHERE state = 'offered';
CREATE INDEX offers_agent_open_idx ON offers (agent_id) WHERE state IN ('offered', 'accepted');

-- The audit log: written by triggers from the rows themselves, never by the router's
-- code, and never changed. Ordered by id it is consistent per interaction and per agent,
-- because every writer holds that row's lock when it writes.
CREATE TABLE routing_audit (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind           text NOT NULL CHECK (kind IN ('waiting', 'offered', 'accepted', 'declined',
        'timed_out', 'cancelled', 'released', 'capacity', 'status')),
    interaction_id bigint,
    agent_id       bigint,
    offer_id       bigint,
    mode           text,
    -- The offer's cost, or the agent's new capacity.
    amount         integer,
    status         text
);

CREATE FUNCTION routing_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'routing_audit is append-only';
END $$;
CREATE TRIGGER routing_audit_no_change BEFORE UPDATE OR DELETE ON routing_audit
    FOR EACH STATEMENT EXECUTE FUNCTION routing_audit_append_only();
CREATE TRIGGER routing_audit_no_truncate BEFORE TRUNCATE ON routing_audit
    FOR EACH STATEMENT EXECUTE FUNCTION routing_audit_append_only();

-- An offer's interaction, agent, cost and mode never change: the audit counts on it.
CREATE FUNCTION offers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an offer''s interaction, agent, cost and mode are immutable';
END $$;
CREATE TRIGGER offers_immutable BEFORE UPDATE ON offers
    FOR EACH ROW
    WHEN ((NEW.interaction_id, NEW.agent_id, NEW.cost, NEW.mode)
          IS DISTINCT FROM (OLD.interaction_id, OLD.agent_id, OLD.cost, OLD.mode))
    EXECUTE FUNCTION offers_immutable();

CREATE FUNCTION routing_audit_offer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO routing_audit (kind, interaction_id, agent_id, offer_id, mode, amount)
        VALUES ('offered', NEW.interaction_id, NEW.agent_id, NEW.id, NEW.mode, NEW.cost);
    END IF;
    IF TG_OP = 'UPDATE' OR NEW.state <> 'offered' THEN
        INSERT INTO routing_audit (kind, interaction_id, agent_id, offer_id, mode, amount)
        VALUES (NEW.state, NEW.interaction_id, NEW.agent_id, NEW.id, NEW.mode, NEW.cost);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER offers_audit_insert AFTER INSERT ON offers
    FOR EACH ROW EXECUTE FUNCTION routing_audit_offer();
CREATE TRIGGER offers_audit_update AFTER UPDATE OF state ON offers
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION routing_audit_offer();

CREATE FUNCTION routing_audit_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.capacity IS DISTINCT FROM NEW.capacity THEN
        INSERT INTO routing_audit (kind, agent_id, amount)
        VALUES ('capacity', NEW.user_id, NEW.capacity);
    END IF;
    IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO routing_audit (kind, agent_id, status)
        VALUES ('status', NEW.user_id, NEW.status);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER agents_audit_insert AFTER INSERT ON agents
    FOR EACH ROW EXECUTE FUNCTION routing_audit_agent();
CREATE TRIGGER agents_audit_update AFTER UPDATE OF capacity, status ON agents
    FOR EACH ROW WHEN (OLD.capacity IS DISTINCT FROM NEW.capacity
                       OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION routing_audit_agent();

CREATE FUNCTION routing_audit_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO routing_audit (kind, interaction_id) VALUES ('waiting', NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER interactions_audit_insert AFTER INSERT ON interactions
    FOR EACH ROW EXECUTE FUNCTION routing_audit_waiting();
CREATE TRIGGER interactions_audit_waiting AFTER UPDATE OF state ON interactions
    FOR EACH ROW WHEN (NEW.state IN ('queued', 'requeued') AND OLD.state NOT IN ('queued', 'requeued'))
    EXECUTE FUNCTION routing_audit_waiting();

-- Agents that existed before this migration start with their default capacity.
INSERT INTO routing_audit (kind, agent_id, amount) SELECT 'capacity', user_id, capacity FROM agents;
INSERT INTO routing_audit (kind, agent_id, status) SELECT 'status', user_id, status FROM agents;
