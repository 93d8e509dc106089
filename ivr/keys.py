"""The IVR's application key: its services, for the HTTP handlers and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .calls import CallRegistry
from .config import IvrConfig
from .services import MenuService, PromptService, VoicemailService
from .stats import IvrStats


@dataclass(frozen=True)
class Ivr:
    menus: MenuService
    prompts: PromptService
    voicemail: VoicemailService
    calls: CallRegistry
    stats: IvrStats
    config: IvrConfig


IVR = web.AppKey("ivr", Ivr)
