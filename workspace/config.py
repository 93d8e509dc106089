"""Configuration of the operator workspace (``[workspace]`` in the TOML file).

Standalone like the other feature sections: ``server.config`` hangs it under
``Config.workspace``; until then the defaults serve.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Blind transfer to an agent: the caller goes to <agent's endpoint>@agents_context.
    agents_context: str = Field("agents", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Blind transfer to an outside number: <digits>@outbound_context. Empty: the
    # dialplan's [outbound] when a carrier is configured ([trunk] host), else refused.
    outbound_context: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    # Click-to-call: how the agent's phone, once answered, reaches a number ({number}:
    # as typed, digits and an optional +; {digits}: without the +). The default goes
    # through the dialplan's [outbound], as transfers do: the carrier's prefix and the
    # company's caller ID, and congestion when no carrier is configured.
    dial_template: str = Field("Local/{digits}@outbound", min_length=1)
    # Seconds the agent's own phone rings for a click-to-call, and the far end after.
    click_to_call_ring_s: int = Field(20, ge=5, le=120)
    # Items of an operator's stream are kept this long for pages catching up.
    stream_retention_h: float = Field(24.0, gt=0, le=24 * 30)


# The dialplan's context for outside numbers (asterisk_conf's extensions.conf.tmpl).
OUTBOUND_CONTEXT = "outbound"


def with_trunk(config: WorkspaceConfig, trunk_configured: bool) -> WorkspaceConfig:
    """The configuration in force: outside numbers go through [outbound] when a carrier
    is configured and no other context was named. Without a carrier [outbound] would
    take the transfer and then drop the caller with congestion; refusing it up front
    keeps the caller with the agent."""
    if config.outbound_context or not trunk_configured:
        return config
    return config.model_copy(update={"outbound_context": OUTBOUND_CONTEXT})
