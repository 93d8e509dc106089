"""Audit queries over the append-only ``routing_audit`` log.

The log is written by triggers on the offers, agents and interactions tables — by the
rows themselves, not by the router — and can only be appended to. Ordered by id it is
consistent per interaction and per agent, because every transaction writes those rows
while holding that interaction's or agent's lock. These queries recount from it, with no
help from the router's own columns (``agents.load``, ``interactions.state``):

- a double offer is an offer made while the interaction already had an open or accepted
  offer (in a ring group: several open offers are the point, but not next to an accepted
  one), or a second acceptance;
- an over-capacity offer is one after which the units held by an agent's open and
  accepted offers exceed the agent's capacity at that moment;
- an offer to an unavailable agent is one made while the agent's status was not available.
"""

from __future__ import annotations

import asyncpg

_ENDS = "('declined', 'timed_out', 'cancelled', 'released')"

DOUBLE_OFFERS = f"""
WITH ev AS (
    SELECT id, interaction_id, kind, mode,
           CASE WHEN kind = 'offered' THEN 1 WHEN kind IN {_ENDS} THEN -1 ELSE 0 END AS open,
           CASE WHEN kind = 'offered' AND mode = 'queue' THEN 1
                WHEN kind IN {_ENDS} AND mode = 'queue' THEN -1 ELSE 0 END AS queue_open,
           CASE WHEN kind = 'accepted' THEN 1
                WHEN kind = 'released' THEN -1 ELSE 0 END AS accepted
    FROM routing_audit
    WHERE interaction_id IS NOT NULL AND kind <> 'waiting'
), run AS (
    SELECT kind, mode, sum(open) OVER w AS open, sum(queue_open) OVER w AS queue_open,
           sum(accepted) OVER w AS accepted
    FROM ev WINDOW w AS (PARTITION BY interaction_id ORDER BY id)
)
SELECT count(*) FROM run
WHERE (kind = 'offered' AND mode = 'queue' AND open > 1)
   OR (kind = 'offered' AND mode = 'ring_group' AND (accepted > 0 OR queue_open > 0))
   OR (kind = 'accepted' AND accepted > 1)
"""

OVER_CAPACITY = f"""
WITH ev AS (
    SELECT id, agent_id, kind,
           CASE WHEN kind = 'offered' THEN amount
                WHEN kind IN {_ENDS} THEN -amount ELSE 0 END AS delta,
           CASE WHEN kind = 'capacity' THEN amount END AS capacity
    FROM routing_audit
    WHERE agent_id IS NOT NULL AND kind NOT IN ('status', 'accepted', 'waiting')
), run AS (
    SELECT agent_id, kind, capacity, sum(delta) OVER w AS held,
           count(capacity) OVER w AS capacity_seq
    FROM ev WINDOW w AS (PARTITION BY agent_id ORDER BY id)
), at_capacity AS (
    SELECT kind, held, max(capacity) OVER (PARTITION BY agent_id, capacity_seq) AS capacity
    FROM run
)
SELECT count(*) FROM at_capacity WHERE kind = 'offered' AND held > capacity
"""

OFFERS_TO_UNAVAILABLE = """
WITH ev AS (
    SELECT id, agent_id, kind, status,
           count(status) OVER (PARTITION BY agent_id ORDER BY id) AS status_seq
    FROM routing_audit
    WHERE agent_id IS NOT NULL AND kind IN ('offered', 'status')
), at_status AS (
    SELECT kind, max(status) OVER (PARTITION BY agent_id, status_seq) AS status FROM ev
)
SELECT count(*) FROM at_status WHERE kind = 'offered' AND status IS DISTINCT FROM 'available'
"""


async def audit(conn: asyncpg.Connection) -> dict[str, int]:
    return {
        "double_offers": await conn.fetchval(DOUBLE_OFFERS),
        "over_capacity": await conn.fetchval(OVER_CAPACITY),
        "offers_to_unavailable": await conn.fetchval(OFFERS_TO_UNAVAILABLE),
    }
