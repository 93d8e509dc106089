"""The workspace's application key: its services, for the handlers and the tests."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .calls import CallControls
from .config import WorkspaceConfig
from .hub import StreamHub
from .screenpop import ScreenPop
from .services import WorkspaceService
from .settings import WorkspaceSettings
from .sockets import OperatorSockets


@dataclass(frozen=True)
class Workspace:
    service: WorkspaceService
    settings: WorkspaceSettings
    hub: StreamHub
    sockets: OperatorSockets
    screen_pop: ScreenPop
    calls: CallControls
    config: WorkspaceConfig


WORKSPACE = web.AppKey("workspace", Workspace)
