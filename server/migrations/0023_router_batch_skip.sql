-- routing_batch_start, and whether to wait for the routers' lock (routing.router): a
-- router woken only by another process's notification need not wait while another
-- router holds the lock, because that router got the same notification and runs one
-- more batch after the one it is in. Then it takes no lock and returns one row, of kind
-- 'busy'.

DROP FUNCTION routing_batch_start(bigint, integer, timestamptz);

CREATE FUNCTION routing_batch_start(lock_key bigint, page_size integer, at timestamptz,
                                    wait boolean)
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
    IF wait THEN
        PERFORM pg_advisory_lock(lock_key);
    ELSIF NOT pg_try_advisory_lock(lock_key) THEN
        RETURN QUERY SELECT 'busy', NULL::bigint, NULL::bigint, NULL::text, NULL::text,
            NULL::timestamptz, NULL::bigint, NULL::timestamptz, NULL::bigint[], NULL::integer,
            NULL::integer, NULL::integer, NULL::timestamptz, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;
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
