"""Web callback: a site visitor leaves a number and is called back, agent first.

- ``http``: the public API (``POST /api/v1/callbacks?site=KEY``, ``GET``/``DELETE
  /api/v1/callbacks/{id}``) and ``/callback/widget.js``; sites are configuration
  (``[callback] sites``).
- ``services.CallbackService``: requests (validation, limits, scheduling into working
  hours), attempts and their outcomes, in PostgreSQL.
- ``executor.CallbackExecutor``: every ``callback`` interaction routing offers (the
  widget's, and the IVR's "press 1") rings the agent's phone, then the visitor through
  the dialplan's ``[outbound]`` trunk; recovers attempts after a restart.
- ``events``: its domain events; ``timeline`` writes them to the customer's timeline.
"""
