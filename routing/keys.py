"""The routing feature's application key: the runtime other features reach it through."""

from __future__ import annotations

from aiohttp import web

from .runtime import RoutingRuntime

ROUTING = web.AppKey("routing", RoutingRuntime)
