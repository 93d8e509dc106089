-- The first round trip of an assignment batch (routing.assignment): take the routers'
-- lock, then read the head of the queue and the available agents with room, each with
-- a snapshot taken after the lock was granted (a VOLATILE function takes one per
-- statement), so the batch sees every commit of the batch before it. When there is
-- nothing to do the lock is released here; otherwise the batch's write releases it.

CREATE FUNCTION routing_batch_start(lock_key bigint, page_size integer, at timestamptz)
RETURNS TABLE (
    kind               text,
    id                 bigint,
    department_id      bigint,
    channel            text,
    skills             text,
    rank_at            timestamptz,
    preferred_agent_id bigint,
    sticky_until       timestamptz,
    declined_by        bigint[],
    version            integer,
    capacity           integer,
    load               integer,
    idle_since         timestamptz,
    last_offer_at      timestamptz,
    profile_version    integer
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_lock(lock_key);
    RETURN QUERY
        SELECT 'waiting', i.id, i.department_id, i.channel, i.skills::text, i.rank_at,
               i.preferred_agent_id, i.sticky_until, i.declined_by, i.version,
               NULL::integer, NULL::integer, NULL::timestamptz, NULL::timestamptz,
               NULL::integer
        FROM interactions i
        WHERE i.state IN ('queued', 'requeued')
          AND (i.wait_deadline IS NULL OR i.wait_deadline > at)
        ORDER BY i.rank_at, i.id
        LIMIT page_size;
    IF NOT FOUND THEN
        PERFORM pg_advisory_unlock(lock_key);
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'agent', a.user_id, NULL::bigint, NULL::text, NULL::text, NULL::timestamptz,
               NULL::bigint, NULL::timestamptz, NULL::bigint[], NULL::integer,
               a.capacity, a.load, a.idle_since, a.last_offer_at, a.profile_version
        FROM agents a
        WHERE a.status = 'available' AND a.load < a.capacity;
    IF NOT FOUND THEN
        PERFORM pg_advisory_unlock(lock_key);
    END IF;
END $$;
