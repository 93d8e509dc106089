"""The customer store (identities, tags, merge, timeline); external CRM adapters come later.

Features resolve the customer with ``app[crm_connectors.keys.CUSTOMERS].store``
(store.CustomerStore: resolve_customer, add_timeline_entry, merge, ...) before they
create an interaction; the timeline of routing's interactions is written by
timeline.TimelineWriter from routing's events (calls and callbacks excepted: their
features write the contact's one entry themselves).

Who may see what is decided in one place, access.Access
(``app[crm_connectors.keys.ACCESS]``), used by every API that shows data: customers,
the workspace, routing, the call journal, recordings, voicemail, agents.
"""
