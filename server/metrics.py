"""Prometheus metrics, one registry per app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "switchboard_http_requests",
            "HTTP requests handled, by method and status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "switchboard_dependency_up",
            "1 when a dependency (database, ami, agi) answered the last health check.",
            ["dependency"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST
