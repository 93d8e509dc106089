"""Configuration of the router (``[routing]``). Timeouts live in ``[timers]``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Run a router in this process. Several processes may; they take turns per batch.
    router: bool = True
    # Offers made in one transaction at most (a soft limit: a page may go over it).
    batch_size: int = Field(200, ge=1, le=5000)
    # Waiting interactions read per page, and at most per batch: how far past a head of
    # interactions nobody can take the router looks.
    page_size: int = Field(200, ge=1, le=5000)
    scan_limit: int = Field(2000, ge=1, le=100_000)
    # Rows a sweep handles per transaction.
    sweep_batch: int = Field(500, ge=1, le=10_000)
    # Missed offers in a row after which an agent is paused.
    missed_offers_limit: int = Field(3, ge=1, le=100)
    # Estimated waits: the handle time assumed without history, and the history used.
    default_handle_time_s: float = Field(180.0, gt=0)
    handle_time_sample: int = Field(50, ge=1, le=10_000)
    # The NOTIFY channel events travel on between processes, and how long a process
    # gathers its events into one notification (every notification costs every process).
    notify_channel: str = Field("switchboard_events", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    notify_window_s: float = Field(0.002, ge=0, le=1)
    # Under load, how long the next accept or completion statement waits for more calls
    # to join it (routing.combining); a call without company never waits.
    combine_linger_s: float = Field(0.003, ge=0, le=0.1)
