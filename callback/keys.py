"""The callback feature's application key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .config import CallbackConfig
from .executor import CallbackExecutor
from .services import CallbackService


@dataclass(frozen=True)
class Callbacks:
    service: CallbackService
    executor: CallbackExecutor
    config: CallbackConfig


CALLBACKS = web.AppKey("callbacks", Callbacks)
