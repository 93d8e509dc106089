"""The unified queue: interactions of every channel, agents with capacities, offers.

What other features use, all on ``app[routing.keys.ROUTING]`` (a RoutingRuntime):

- ``.service`` (services.RoutingService): enqueue, accept, decline, complete,
  finish_wrapup, abandon, requeue, change_channel, expire_due, set_agent_status, ... —
  each takes a connection; events are published once the transaction commits.
- ``.overview`` (overview.QueueOverview): position_and_wait, the supervisor's board.
- ``.admin`` (admin.RoutingAdmin): departments and their settings, agents' profiles.
- ``.publish``: publish an event here and in every other server process.

Domain events are in routing.events; the router that makes the offers runs by itself.
"""
