"""The IVR's services: menus and prompts for the admin API, and the record of what
happened to each call (outcome, path, voicemail) for the journal and the timeline."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import shutil
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from pbx import audio

from . import repository
from .calls import LiveCall
from .events import IvrCallEnded, VoicemailLeft
from .menus import MenuSet

log = logging.getLogger("ivr.services")

PROMPT_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
NUMBER = re.compile(r"^\+?[0-9]{1,32}$")

SoundExists = Callable[[str], Awaitable[bool]]
Publish = Callable[[object], None]


class MenuRejected(ValueError):
    """A menu that must not be saved; ``problems`` says why, field by field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


class PromptInUse(Exception):
    def __init__(self, name: str, numbers: list[str]) -> None:
        super().__init__(f"prompt {name!r} is used by the menus of {', '.join(numbers)}")
        self.numbers = numbers


@dataclass(frozen=True)
class SavedMenu:
    number: str
    menus: MenuSet
    version: int
    updated_at: datetime
    warnings: list[str]


class MenuService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        prompts: PromptService,
        sound_exists: SoundExists,
    ) -> None:
        self._pool = pool
        self._prompts = prompts
        self._sound_exists = sound_exists

    async def current(self, number: str) -> MenuSet | None:
        """The menus a call to ``number`` walks now (read per call: edits apply at once)."""
        async with self._pool.acquire() as conn:
            row = await repository.get_menu(conn, number)
        return MenuSet.model_validate_json(row["document"]) if row is not None else None

    async def get(self, number: str) -> SavedMenu | None:
        async with self._pool.acquire() as conn:
            row = await repository.get_menu(conn, number)
        return _saved(row) if row is not None else None

    async def list(self) -> list[SavedMenu]:
        async with self._pool.acquire() as conn:
            rows = await repository.list_menus(conn)
        return [_saved(r) for r in rows]

    async def put(self, number: str, document: dict[str, Any]) -> SavedMenu:
        """Validate and save; a menu naming a prompt or department that does not exist
        is rejected now rather than found by a caller."""
        if not NUMBER.match(number):
            raise MenuRejected([{"field": "number", "message": "must be digits"}])
        try:
            menus = MenuSet.model_validate(document)
        except ValidationError as exc:
            raise MenuRejected(
                [
                    {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                    for e in exc.errors()
                ]
            ) from None
        problems = [
            {"field": "prompts", "message": f"no such prompt: {ref}"}
            for ref in sorted(await self._missing_prompts(menus.prompts()))
        ]
        async with self._pool.acquire() as conn:
            wanted = sorted(menus.department_ids())
            found = await repository.existing_departments(conn, wanted)
            problems += [
                {"field": "departments", "message": f"no department {d}"}
                for d in wanted
                if d not in found
            ]
            if problems:
                raise MenuRejected(problems)
            row = await repository.put_menu(conn, number, menus.model_dump(mode="json"))
        return _saved(row)

    async def delete(self, number: str) -> bool:
        async with self._pool.acquire() as conn:
            return await repository.delete_menu(conn, number)

    async def _missing_prompts(self, refs: Iterable[str]) -> set[str]:
        uploaded = await self._prompts.names()
        missing = set()
        for ref in refs:
            kind, _, name = ref.partition(":")
            if kind == "prompt" and name not in uploaded:
                missing.add(ref)
            elif kind == "sound" and not await self._sound_exists(name):
                missing.add(ref)
        return missing


def _saved(row: asyncpg.Record) -> SavedMenu:
    menus = MenuSet.model_validate_json(row["document"])
    return SavedMenu(row["number"], menus, row["version"], row["updated_at"], menus.warnings())


class PromptService:
    """Uploaded prompts, converted to 8 kHz mono WAV in a directory Asterisk reads."""

    def __init__(self, pool: asyncpg.Pool, directory: Path) -> None:
        self._pool = pool
        self._dir = directory
        # name → path without extension; what calls play, refreshed on every change.
        self._paths: dict[str, str] = {}

    async def load(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        async with self._pool.acquire() as conn:
            rows = await repository.list_prompts(conn)
        self._paths = {r["name"]: r["path"] for r in rows}

    async def names(self) -> set[str]:
        await self.load()
        return set(self._paths)

    def resolve(self, ref: str) -> str:
        """What Asterisk's playback is given for a prompt reference."""
        kind, _, name = ref.partition(":")
        if kind == "prompt":
            # A prompt deleted since the menu was saved plays nothing rather than
            # a wrong file; deleting a prompt in use is refused anyway.
            return self._paths.get(name, str(self._dir / name))
        return name

    async def upload(self, name: str, source: Path) -> asyncpg.Record:
        """Convert an uploaded file (WAV, MP3, anything ffmpeg reads) and keep it.

        Raises ``pbx.audio.AudioError`` for a file that is not audio."""
        if not PROMPT_NAME.match(name):
            raise ValueError("a prompt name is 1-64 of a-z 0-9 _ -")
        self._dir.mkdir(parents=True, exist_ok=True)
        # A new file per upload: a call playing the old one is not cut off mid-word.
        base = self._dir / f"{name}-{secrets.token_hex(4)}"
        info = await asyncio.to_thread(audio.convert_prompt, source, Path(f"{base}.wav"))
        async with self._pool.acquire() as conn:
            old = self._paths.get(name)
            row = await repository.put_prompt(conn, name, str(base), info.duration_s)
        if old is not None and old != str(base):
            await asyncio.to_thread(Path(f"{old}.wav").unlink, missing_ok=True)
        self._paths[name] = str(base)
        return row

    async def list(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repository.list_prompts(conn)

    async def delete(self, name: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            users = await repository.menus_using_prompt(conn, f"prompt:{name}")
            if users:
                raise PromptInUse(name, users)
            path = await repository.delete_prompt(conn, name)
        if path is None:
            return False
        await asyncio.to_thread(Path(f"{path}.wav").unlink, missing_ok=True)
        self._paths.pop(name, None)
        return True


class CallLog:
    """What happened to each call, for the journal (ivr_calls → calls) and the bus."""

    def __init__(self, pool: asyncpg.Pool, publish: Publish) -> None:
        self._pool = pool
        self._publish = publish

    async def started(self, call: LiveCall) -> None:
        async with self._pool.acquire() as conn:
            await repository.start_call(
                conn, call.call_id, call.number, call.caller_number, call.started_at
            )

    async def finished(self, call: LiveCall, outcome: str, ended_at: datetime) -> None:
        async with self._pool.acquire() as conn:
            await repository.finish_call(
                conn,
                call.call_id,
                customer_id=call.customer_id,
                ended_at=ended_at,
                path=call.path,
                outcome=outcome,
                interaction_id=call.interaction_id,
            )
        # A served caller's wait ends when the agent answers, not with the talk.
        left_queue_at = call.connected_at or ended_at
        waited = (
            max(0.0, (left_queue_at - call.enqueued_at).total_seconds())
            if call.enqueued_at is not None
            else None
        )
        log.info(
            "ivr call ended call_id=%s outcome=%s path=%s interaction_id=%s",
            call.call_id,
            outcome,
            ",".join(call.path),
            call.interaction_id,
        )
        self._publish(
            IvrCallEnded(
                call_id=call.call_id,
                number=call.number,
                caller_number=call.caller_number,
                customer_id=call.customer_id,
                outcome=outcome,
                ivr_path=tuple(call.path),
                interaction_id=call.interaction_id,
                started_at=call.started_at,
                ended_at=ended_at,
                waited_s=waited,
                department_id=call.department_id,
                agent_id=call.agent_id,
            )
        )


class VoicemailService:
    """Messages recorded by Asterisk into the spool, moved to the voicemail store."""

    def __init__(
        self, pool: asyncpg.Pool, spool_dir: Path, store_dir: Path, publish: Publish
    ) -> None:
        self._pool = pool
        self._spool = spool_dir
        self._store = store_dir
        self._publish = publish

    def prepare(self) -> None:
        self._spool.mkdir(parents=True, exist_ok=True)
        self._store.mkdir(parents=True, exist_ok=True)

    def spool_file(self, call_id: str) -> Path:
        """Where Asterisk records (without the extension it adds)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", call_id)
        return self._spool / f"vm-{safe}-{secrets.token_hex(4)}"

    async def store(
        self,
        call: LiveCall,
        recorded: Path,
        department_id: int | None,
        notify: tuple[str, ...],
        recorded_at: datetime,
    ) -> int | None:
        """Keep a recorded message; None when there is none (hung up before the beep)."""
        try:
            info = await asyncio.to_thread(audio.read_wav_info, recorded)
        except (audio.AudioError, OSError) as exc:
            log.info("no voicemail kept call_id=%s: %s", call.call_id, exc)
            await asyncio.to_thread(recorded.unlink, missing_ok=True)
            return None
        target = self._store / f"{recorded_at:%Y/%m/%d}" / recorded.name
        await asyncio.to_thread(_move, recorded, target)
        async with self._pool.acquire() as conn:
            voicemail_id = await repository.insert_voicemail(
                conn,
                call_id=call.call_id,
                number=call.number,
                caller_number=call.caller_number,
                customer_id=call.customer_id,
                department_id=department_id,
                path=str(target),
                duration_s=info.duration_s,
                recorded_at=recorded_at,
            )
        log.info(
            "voicemail stored call_id=%s voicemail_id=%s seconds=%.1f",
            call.call_id,
            voicemail_id,
            info.duration_s,
        )
        self._publish(
            VoicemailLeft(
                voicemail_id=voicemail_id,
                call_id=call.call_id,
                number=call.number,
                caller_number=call.caller_number,
                customer_id=call.customer_id,
                department_id=department_id,
                duration_s=info.duration_s,
                recorded_at=recorded_at,
                notify=tuple(notify),
            )
        )
        return voicemail_id

    async def list(
        self, limit: int = 100, departments: Collection[int] | None = None
    ) -> list[asyncpg.Record]:
        """The newest messages, of ``departments`` only when given (None: every one)."""
        async with self._pool.acquire() as conn:
            return await repository.list_voicemails(
                conn, limit, None if departments is None else sorted(departments)
            )

    async def get(self, voicemail_id: int) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await repository.get_voicemail(conn, voicemail_id)


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)
