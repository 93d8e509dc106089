"""Request bodies and query parameters of the customer API, and the JSON it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .identities import IdentityKind
from .models import Customer, TimelineEntry
from .store import MAX_TAG_CHARS, MAX_TAGS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LookupQuery(_Strict):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class TimelineQuery(_Strict):
    limit: int = Field(50, ge=1, le=500)
    # The (at, id) of the last entry of the previous page.
    before_at: datetime | None = None
    before_id: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _cursor_whole(self) -> TimelineQuery:
        if (self.before_at is None) != (self.before_id is None):
            raise ValueError("before_at and before_id go together")
        if self.before_at is not None and self.before_at.tzinfo is None:
            raise ValueError("before_at needs a time zone")
        return self


class NoteBody(_Strict):
    text: str = Field(min_length=1, max_length=2000)


class IdentityBody(_Strict):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class TagsBody(_Strict):
    tags: list[str] = Field(max_length=MAX_TAGS)

    @model_validator(mode="after")
    def _tag_lengths(self) -> TagsBody:
        self.tags = [t.strip() for t in self.tags]
        if not all(1 <= len(t) <= MAX_TAG_CHARS for t in self.tags):
            raise ValueError(f"a tag has 1 to {MAX_TAG_CHARS} characters")
        return self


class MergeBody(_Strict):
    other_id: int = Field(ge=1)


def customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "display_name": c.display_name,
        "responsible_agent_id": c.responsible_agent_id,
        "identities": [{"kind": i.kind, "value": i.value} for i in c.identities],
        "merged_ids": list(c.merged_ids),
        "tags": list(c.tags),
        "created_at": c.created_at.isoformat(),
    }


def entry_json(e: TimelineEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "customer_id": e.customer_id,
        "original_customer_id": e.original_customer_id,
        "kind": e.kind,
        "at": e.at.isoformat(),
        "summary": e.summary,
        "data": dict(e.data),
        "source": e.source,
        "author_id": e.author_id,
    }
