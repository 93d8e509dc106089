"""The customer store (identities, merge, timeline); external CRM adapters come later.

Features resolve the customer with ``app[crm_connectors.keys.CUSTOMERS].store``
(store.CustomerStore: resolve_customer, add_timeline_entry, merge, ...) before they
create an interaction; the timeline of routing's interactions is written by
timeline.TimelineWriter from routing's events.
"""
