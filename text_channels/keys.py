"""Text channels' application key: the services, for handlers, the workspace and tests."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .config import TextChannelsConfig
from .limits import RateLimiter
from .services import ConversationService
from .sites import SiteService
from .webchat import WebchatAdapter


@dataclass(frozen=True)
class TextChannels:
    conversations: ConversationService
    sites: SiteService
    webchat: WebchatAdapter
    # Signs visitors' tokens and attachment links.
    visitor_key: bytes
    limiter: RateLimiter
    config: TextChannelsConfig


TEXT_CHANNELS = web.AppKey("text_channels", TextChannels)
