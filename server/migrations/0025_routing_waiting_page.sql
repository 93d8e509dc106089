-- A page of the queue further back (routing.repository.waiting_page), as a function
-- planned without bitmap or sequential scans — for the reason of migration 0024: a
-- plan cached while the queue was short read every waiting interaction of the asked
-- departments and channels and sorted them, on every page, however long the queue had
-- grown. Walking the queue's index in rank order stops once the page is full.
CREATE FUNCTION routing_waiting_page(department_ids bigint[], channels text[],
                                     after_rank timestamptz, after_id bigint,
                                     page_size integer, at timestamptz)
RETURNS TABLE (
    id                 bigint,
    department_id      bigint,
    channel            text,
    skills             text,
    rank_at            timestamptz,
    preferred_agent_id bigint,
    sticky_until       timestamptz,
    declined_by        bigint[],
    version            integer
) LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off AS $$
#variable_conflict use_column
BEGIN
    IF after_rank IS NULL THEN
        after_rank := '-infinity';
        after_id := 0;
    END IF;
    -- The row comparison is the index scan's start: only rows after the last page's are
    -- visited.
    RETURN QUERY
    SELECT i.id, i.department_id, i.channel, i.skills::text, i.rank_at, i.preferred_agent_id,
           i.sticky_until, i.declined_by, i.version
    FROM interactions i
    WHERE i.state IN ('queued', 'requeued')
      AND (i.rank_at, i.id) > (after_rank, after_id)
      AND (department_ids IS NULL OR i.department_id = ANY(department_ids))
      AND (channels IS NULL OR i.channel = ANY(channels))
      AND (i.wait_deadline IS NULL OR i.wait_deadline > at)
    ORDER BY i.rank_at, i.id
    LIMIT page_size;
END $$;
