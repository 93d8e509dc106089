"""Every typed application key, in one place (no string keys, no singletons)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from server.bus import EventBus
from server.config import Config

if TYPE_CHECKING:
    from server.clock import Clock
    from server.metrics import Metrics
    from server.phones import PhoneDirectory

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
BUS = web.AppKey("bus", EventBus)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
PHONES: web.AppKey[PhoneDirectory] = web.AppKey("phones")
# The AMI client (pbx.ami.client.AmiClient) and the FastAGI server; typed loosely here
# because server/ must not import their modules at import time for the CLI to stay fast.
AMI: web.AppKey[Any] = web.AppKey("ami")
AGI: web.AppKey[Any] = web.AppKey("agi")
