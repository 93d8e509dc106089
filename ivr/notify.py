"""E-mail to the department when a voicemail is left (SMTP, if configured)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg

from . import repository
from .config import SmtpConfig
from .events import VoicemailLeft

log = logging.getLogger("ivr.notify")


def voicemail_message(
    event: VoicemailLeft, sender: str, recipients: tuple[str, ...], wav: Path | None
) -> EmailMessage:
    """The notification, with the message attached when it can be read. Pure but for
    reading the file."""
    message = EmailMessage()
    caller = event.caller_number or "an unknown number"
    message["Subject"] = f"Voicemail from {caller} ({event.duration_s:.0f} s)"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(
        f"A caller from {caller} left a voicemail of {event.duration_s:.0f} seconds "
        f"on {event.recorded_at.isoformat()} (number dialled: {event.number}, "
        f"call {event.call_id}, voicemail {event.voicemail_id})."
    )
    if wav is not None and wav.exists():
        message.add_attachment(
            wav.read_bytes(), maintype="audio", subtype="wav",
            filename=f"voicemail-{event.voicemail_id}.wav",
        )  # fmt: skip
    return message


class VoicemailMailer:
    def __init__(
        self, pool: asyncpg.Pool, config: SmtpConfig, clock: Callable[[], datetime]
    ) -> None:
        self._pool = pool
        self._config = config
        self._clock = clock

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> None:
        subscribe(VoicemailLeft, self.on_voicemail)

    async def on_voicemail(self, event: VoicemailLeft) -> None:
        if not self._config.host or not event.notify:
            return
        async with self._pool.acquire() as conn:
            row = await repository.get_voicemail(conn, event.voicemail_id)
        wav = Path(row["path"]) if row is not None else None
        message = voicemail_message(event, self._config.sender, event.notify, wav)
        error = None
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("voicemail e-mail not sent voicemail_id=%s: %s", event.voicemail_id, error)
        async with self._pool.acquire() as conn:
            await repository.mark_notified(
                conn, event.voicemail_id, None if error else self._clock(), error
            )

    def _send(self, message: EmailMessage) -> None:
        cfg = self._config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            smtp.send_message(message)
