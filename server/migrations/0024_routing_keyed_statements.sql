-- The queue's three busiest statements — making offers, accepting them, completing
-- interactions — as functions whose rows are all reached by their keys.
--
-- Why functions: these statements take arrays of keys and run from pooled connections,
-- each of which caches a generic plan after its first executions. On a young database
-- (a new installation, a benchmark) the tables are tiny at that moment, so the planner
-- scans whole tables, or every open offer, or every waiting interaction — and the
-- connection keeps that plan while the tables grow, so each call costs time in
-- proportion to the table. A function's own settings apply to the plans made inside it:
-- here only nested loops into an index, with the page costs of a database in memory, so
-- every row is reached through its key whatever the statistics say. So the statements
-- are shaped to need nothing else: each step looks its rows up by key from the step
-- before (a LATERAL subquery), with the key alone in the lookup's condition and the rest
-- checked on the row it returns — a condition on state would let a partial index look
-- like a cheaper way in; OFFSET 0 keeps the planner from merging the lookup into a join
-- or pushing those conditions down into it — and no two intermediate results are joined
-- to each other.

-- What routing.repository reads of an interaction (jsonb as text: the caller parses it).
CREATE TYPE routing_interaction AS (
    id                 bigint,
    channel            text,
    customer_id        bigint,
    department_id      bigint,
    skills             text,
    priority           integer,
    state              text,
    enqueued_at        timestamptz,
    rank_at            timestamptz,
    wait_deadline      timestamptz,
    preferred_agent_id bigint,
    sticky_until       timestamptz,
    external_refs      text,
    agent_id           bigint,
    offer_id           bigint,
    offers_made        integer,
    requeues           integer,
    accepted_at        timestamptz,
    wrapup_until       timestamptz,
    ended_at           timestamptz,
    end_reason         text,
    overflow_target    text,
    declined_by        bigint[],
    version            integer
);

-- Offers made in one statement (routing.assignment): pairs whose interaction is still
-- waiting, unchanged since the batch read it and not held by another transaction
-- (SKIP LOCKED: never waits), and whose agent — locked in user_id order — is available
-- with room for all of its pairs. Returns a row per offer ('offer'), per interaction
-- offered ('interaction'), and last, once everything is written, one ('unlocked') after
-- releasing the routers' lock taken by routing_batch_start.
CREATE FUNCTION routing_assign(
    interaction_ids bigint[], agent_ids bigint[], unit_costs integer[], row_versions integer[],
    offer_modes text[], expiries timestamptz[], automatic boolean[], at timestamptz,
    lock_key bigint)
RETURNS TABLE (
    kind           text,
    id             bigint,
    interaction_id bigint,
    agent_id       bigint,
    mode           text,
    state          text,
    expires_at     timestamptz,
    channel        text,
    customer_id    bigint,
    department_id  bigint,
    external_refs  text
) LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
SET enable_mergejoin = off SET random_page_cost = 1.1 AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH p AS (
        SELECT * FROM unnest(interaction_ids, agent_ids, unit_costs, row_versions, offer_modes,
                             expiries, automatic)
            AS p(interaction_id, agent_id, cost, version, mode, expires_at, auto)
    ), held AS (
        SELECT p.*, sum(p.cost) OVER (PARTITION BY p.agent_id) AS agent_total
        FROM p CROSS JOIN LATERAL (
            SELECT i.state, i.version FROM interactions i WHERE i.id = p.interaction_id
            OFFSET 0 FOR NO KEY UPDATE OF i SKIP LOCKED) l
        WHERE l.version = p.version AND l.state IN ('queued', 'requeued')
    ), ok AS (
        -- The agent's row is checked after its lock (re-read if it changed meanwhile):
        -- the last word on over-capacity.
        SELECT h.* FROM (SELECT * FROM held ORDER BY agent_id) h
        CROSS JOIN LATERAL (
            SELECT 1 FROM agents a
            WHERE a.user_id = h.agent_id AND a.status = 'available'
              AND a.load + h.agent_total <= a.capacity
            FOR NO KEY UPDATE) l
    ), ua AS (
        UPDATE agents a SET load = a.load + n.total, last_offer_at = at
        FROM (SELECT ok.agent_id, sum(ok.cost) AS total FROM ok GROUP BY ok.agent_id) n
        WHERE a.user_id = n.agent_id
        RETURNING a.user_id
    ), ins AS (
        INSERT INTO offers (interaction_id, agent_id, cost, mode, state, offered_at, expires_at,
                            answered_at)
        SELECT ok.interaction_id, ok.agent_id, ok.cost, ok.mode,
               CASE WHEN ok.auto THEN 'accepted' ELSE 'offered' END, at, ok.expires_at,
               CASE WHEN ok.auto THEN at END
        FROM ok
        RETURNING offers.id, offers.interaction_id, offers.agent_id, offers.mode, offers.state,
                  offers.expires_at
    ), per_i AS (
        SELECT ins.interaction_id, bool_or(ins.state = 'accepted') AS accepted, count(*) AS n,
               min(ins.agent_id) AS agent_id, min(ins.id) AS offer_id,
               bool_and(ins.mode = 'queue') AS queue_mode
        FROM ins GROUP BY ins.interaction_id
    ), ui AS (
        UPDATE interactions i SET
            state = CASE WHEN per_i.accepted THEN 'accepted' ELSE 'offered' END,
            agent_id = CASE WHEN per_i.queue_mode OR per_i.accepted THEN per_i.agent_id END,
            offer_id = CASE WHEN per_i.queue_mode OR per_i.accepted THEN per_i.offer_id END,
            accepted_at = CASE WHEN per_i.accepted THEN at END,
            offers_made = i.offers_made + per_i.n,
            version = i.version + 1,
            updated_at = at
        FROM per_i WHERE i.id = per_i.interaction_id
        RETURNING i.id, i.channel, i.customer_id, i.department_id,
                  i.external_refs::text AS external_refs
    )
    SELECT 'offer', ins.id, ins.interaction_id, ins.agent_id, ins.mode, ins.state,
           ins.expires_at, NULL, NULL, NULL, NULL
    FROM ins
    UNION ALL
    SELECT 'interaction', NULL, ui.id, NULL, NULL, NULL, NULL, ui.channel, ui.customer_id,
           ui.department_id, ui.external_refs
    FROM ui
    UNION ALL
    -- After every row above was read, so everything is written: the routers' lock goes.
    SELECT 'unlocked', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    WHERE (SELECT count(*) FROM ua) >= 0 AND pg_advisory_unlock(lock_key);
END $$;

-- Open queue-mode offers accepted by their agents (routing.repository.accept_queue_offers):
-- the interactions accepted. The interaction is updated before its offer (its lock comes
-- first, as everywhere), and only while this very offer is its open one.
CREATE FUNCTION routing_accept_queue_offers(offer_ids bigint[], agent_ids bigint[],
                                            at timestamptz)
RETURNS SETOF routing_interaction LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
SET enable_mergejoin = off SET random_page_cost = 1.1 AS $$
BEGIN
    RETURN QUERY
    WITH r AS (
        SELECT o.interaction_id, r.offer_id, r.agent_id
        FROM unnest(offer_ids, agent_ids) AS r(offer_id, agent_id)
        CROSS JOIN LATERAL (
            SELECT interaction_id FROM offers WHERE offers.id = r.offer_id OFFSET 0) o
    ), li AS MATERIALIZED (
        SELECT l.id FROM r
        CROSS JOIN LATERAL (
            SELECT x.id, x.state, x.offer_id, x.agent_id FROM interactions x
            WHERE x.id = r.interaction_id OFFSET 0 FOR NO KEY UPDATE) l
        WHERE l.state = 'offered' AND l.offer_id = r.offer_id AND l.agent_id = r.agent_id
    ), i AS (
        UPDATE interactions SET state = 'accepted', accepted_at = at,
            version = interactions.version + 1, updated_at = at
        FROM li WHERE interactions.id = li.id
        RETURNING interactions.id, interactions.channel, interactions.customer_id,
            interactions.department_id, interactions.skills::text, interactions.priority,
            interactions.state, interactions.enqueued_at, interactions.rank_at,
            interactions.wait_deadline, interactions.preferred_agent_id,
            interactions.sticky_until, interactions.external_refs::text,
            interactions.agent_id, interactions.offer_id, interactions.offers_made,
            interactions.requeues, interactions.accepted_at, interactions.wrapup_until,
            interactions.ended_at, interactions.end_reason, interactions.overflow_target,
            interactions.declined_by, interactions.version
    ), lo AS MATERIALIZED (
        SELECT l.id FROM i
        CROSS JOIN LATERAL (
            SELECT x.id, x.mode, x.state FROM offers x WHERE x.id = i.offer_id
            OFFSET 0 FOR NO KEY UPDATE) l
        WHERE l.mode = 'queue' AND l.state = 'offered'
    ), o AS (
        UPDATE offers SET state = 'accepted', answered_at = at
        FROM lo WHERE offers.id = lo.id
    ), a AS (
        UPDATE agents SET missed_offers = 0
        FROM (SELECT DISTINCT i.agent_id FROM i ORDER BY i.agent_id) d
        CROSS JOIN LATERAL (
            SELECT user_id FROM agents WHERE user_id = d.agent_id AND missed_offers <> 0
            FOR NO KEY UPDATE) l
        WHERE agents.user_id = l.user_id
    )
    SELECT * FROM i;
END $$;

-- Accepted interactions finished (routing.repository.complete_accepted): calls with
-- wrap-up time go to wrap-up, the rest are completed and give their units back. Each
-- interaction's accepted offer is its offer_id.
CREATE FUNCTION routing_complete_accepted(interaction_ids bigint[], agent_ids bigint[],
                                          at timestamptz, default_wrapup_s double precision)
RETURNS SETOF routing_interaction LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
SET enable_mergejoin = off SET random_page_cost = 1.1 AS $$
BEGIN
    RETURN QUERY
    WITH cur AS (
        -- Read, not locked: the update below re-checks the version under the lock.
        SELECT DISTINCT ON (c.id) c.id, c.version,
               CASE WHEN c.channel IN ('voice', 'callback') THEN coalesce(a.wrapup_s, default_wrapup_s)
                    ELSE 0 END AS wrapup_s
        FROM unnest(interaction_ids, agent_ids) AS r(interaction_id, agent_id)
        CROSS JOIN LATERAL (
            SELECT i.id, i.version, i.channel, i.agent_id, i.state FROM interactions i
            WHERE i.id = r.interaction_id OFFSET 0) c
        CROSS JOIN LATERAL (
            SELECT wrapup_s FROM agents WHERE user_id = c.agent_id OFFSET 0) a
        WHERE c.state = 'accepted' AND (r.agent_id IS NULL OR c.agent_id = r.agent_id)
        ORDER BY c.id
    ), i AS (
        UPDATE interactions SET
            state = CASE WHEN cur.wrapup_s = 0 THEN 'completed' ELSE 'wrap_up' END,
            wrapup_until = CASE WHEN cur.wrapup_s > 0
                                THEN at + cur.wrapup_s * interval '1 second' END,
            ended_at = CASE WHEN cur.wrapup_s = 0 THEN at END,
            version = interactions.version + 1, updated_at = at
        FROM cur WHERE interactions.id = cur.id AND interactions.version = cur.version
        RETURNING interactions.id, interactions.channel, interactions.customer_id,
            interactions.department_id, interactions.skills::text, interactions.priority,
            interactions.state, interactions.enqueued_at, interactions.rank_at,
            interactions.wait_deadline, interactions.preferred_agent_id,
            interactions.sticky_until, interactions.external_refs::text,
            interactions.agent_id, interactions.offer_id, interactions.offers_made,
            interactions.requeues, interactions.accepted_at, interactions.wrapup_until,
            interactions.ended_at, interactions.end_reason, interactions.overflow_target,
            interactions.declined_by, interactions.version, cur.wrapup_s
    ), released AS (
        -- The offers are stable here: they change only under their interaction's lock.
        SELECT o.id, o.agent_id, o.cost FROM i
        CROSS JOIN LATERAL (
            SELECT x.id, x.agent_id, x.cost, x.interaction_id, x.state FROM offers x
            WHERE x.id = i.offer_id OFFSET 0) o
        WHERE i.wrapup_s = 0 AND o.interaction_id = i.id AND o.state = 'accepted'
    ), la AS (
        SELECT n.agent_id, n.total FROM (
            SELECT released.agent_id, sum(released.cost) AS total FROM released
            GROUP BY released.agent_id ORDER BY released.agent_id) n
        CROSS JOIN LATERAL (
            SELECT 1 FROM agents WHERE agents.user_id = n.agent_id FOR NO KEY UPDATE) l
    ), a AS (
        UPDATE agents SET load = agents.load - la.total,
            idle_since = CASE WHEN agents.load - la.total = 0 THEN at
                              ELSE agents.idle_since END
        FROM la WHERE agents.user_id = la.agent_id
        RETURNING agents.user_id
    ), o AS (
        -- After every agent (a count reads them all): the audit log is ordered by each
        -- agent's lock.
        UPDATE offers SET state = 'released', ended_at = at
        FROM released WHERE offers.id = released.id AND (SELECT count(*) FROM a) > 0
    )
    SELECT i.id, i.channel, i.customer_id, i.department_id, i.skills, i.priority, i.state,
           i.enqueued_at, i.rank_at, i.wait_deadline, i.preferred_agent_id, i.sticky_until,
           i.external_refs, i.agent_id, i.offer_id, i.offers_made, i.requeues, i.accepted_at,
           i.wrapup_until, i.ended_at, i.end_reason, i.overflow_target, i.declined_by,
           i.version
    FROM i;
END $$;
