"""Request bodies of the text channels' admin API, and the JSON of what it returns."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from .sites import Site


class SiteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=100)
    department_id: int = Field(ge=1)
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    schedule: dict[str, Any] | None = None


def site_json(site: Site) -> dict[str, Any]:
    return {
        "key": site.key,
        "name": site.name,
        "department_id": site.department_id,
        "allowed_origins": list(site.allowed_origins),
        "schedule": site.schedule_document,
    }


def offline_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "site": row["source"],
        "customer_id": row["customer_id"],
        "department_id": row["department_id"],
        "name": row["name"],
        "contact": row["contact"],
        "text": row["body"],
        "reason": row["reason"],
        "at": row["created_at"].isoformat(),
    }
