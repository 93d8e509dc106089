"""Request bodies of the routing API, and the JSON of what it returns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .admin import DepartmentView
from .directory import Department
from .models import AgentProfile, AgentState, AgentStatus, Channel, Interaction, Offer
from .models import QueuePosition as Position
from .overview import QueueBoard

_SKILL = r"^[a-z0-9_.-]{1,40}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StatusBody(_Body):
    status: AgentStatus
    reason: str | None = Field(None, min_length=1, max_length=100)


class ProfileBody(_Body):
    capacity: int = Field(100, ge=0, le=10_000)
    channel_costs: dict[Channel, int] = Field(default_factory=dict)
    wrapup_s: float | None = Field(None, ge=0, le=3600)
    departments: list[int] = Field(default_factory=list, max_length=100)
    skills: dict[str, int] = Field(default_factory=dict, max_length=100)

    def profile(self) -> AgentProfile:
        return AgentProfile(
            capacity=self.capacity,
            channel_costs=self.channel_costs,
            wrapup_s=self.wrapup_s,
            departments=frozenset(self.departments),
            skills=self.skills,
        )


class NewDepartmentBody(_Body):
    name: str = Field(min_length=1, max_length=100)
    # Validated as routing.settings.DepartmentSettings by the handler, so that errors
    # name the field under "settings".
    settings: dict[str, Any] = Field(default_factory=dict)
    supervisor_ids: list[int] = Field(default_factory=list, max_length=100)


class DepartmentPatchBody(_Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    # Only the settings given change; the result is validated as a whole.
    settings: dict[str, Any] | None = None
    supervisor_ids: list[int] | None = Field(None, max_length=100)


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def interaction_json(i: Interaction, position: Position | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": i.id,
        "channel": i.channel,
        "customer_id": i.customer_id,
        "department_id": i.department_id,
        "skills": dict(i.skills),
        "priority": i.priority,
        "state": i.state,
        "enqueued_at": _time(i.enqueued_at),
        "wait_deadline": _time(i.wait_deadline),
        "preferred_agent_id": i.preferred_agent_id,
        "sticky_until": _time(i.sticky_until),
        "external_refs": dict(i.external_refs),
        "agent_id": i.agent_id,
        "offers_made": i.offers_made,
        "requeues": i.requeues,
        "accepted_at": _time(i.accepted_at),
        "wrapup_until": _time(i.wrapup_until),
        "ended_at": _time(i.ended_at),
        "end_reason": i.end_reason,
        "overflow_target": i.overflow_target,
    }
    if position is not None:
        data["position"] = position.position
        data["estimated_wait_s"] = position.estimated_wait_s
    return data


def offer_json(o: Offer) -> dict[str, Any]:
    return {
        "id": o.id,
        "interaction_id": o.interaction_id,
        "agent_id": o.agent_id,
        "channel": o.channel,
        "mode": o.mode,
        "state": o.state,
        "cost": o.cost,
        "offered_at": _time(o.offered_at),
        "expires_at": _time(o.expires_at),
    }


def agent_state_json(s: AgentState) -> dict[str, Any]:
    return {
        "agent_id": s.agent_id,
        "status": s.status,
        "pause_reason": s.pause_reason,
        "status_changed_at": _time(s.status_changed_at),
        "capacity": s.capacity,
        "load": s.load,
        "missed_offers": s.missed_offers,
    }


def profile_json(p: AgentProfile) -> dict[str, Any]:
    return {
        "capacity": p.capacity,
        "channel_costs": dict(p.channel_costs),
        "wrapup_s": p.wrapup_s,
        "departments": sorted(p.departments),
        "skills": dict(p.skills),
    }


def department_json(d: Department, supervisor_ids: tuple[int, ...] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "version": d.version,
        "settings": d.settings.model_dump(mode="json"),
    }
    if supervisor_ids is not None:
        data["supervisor_ids"] = list(supervisor_ids)
    return data


def department_view_json(view: DepartmentView) -> dict[str, Any]:
    return department_json(view.department, view.supervisor_ids)


def board_json(board: QueueBoard) -> dict[str, Any]:
    return {
        "queues": [
            {
                "department_id": q.department_id,
                "channel": q.channel,
                "waiting": q.waiting,
                "longest_wait_s": round(q.longest_wait_s, 1),
                "in_service": q.in_service,
            }
            for q in board.queues
        ],
        "agents": [
            {
                "agent_id": a.agent_id,
                "username": a.username,
                "display_name": a.display_name,
                "status": a.status,
                "pause_reason": a.pause_reason,
                "status_changed_at": _time(a.status_changed_at),
                "capacity": a.capacity,
                "load": a.load,
                "departments": list(a.departments),
                "offered": a.offered,
                "handling": a.handling,
            }
            for a in board.agents
        ],
    }
