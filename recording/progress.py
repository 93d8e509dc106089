"""A plain-text progress bar for long CLI runs (no dependency, no curses)."""

from __future__ import annotations

from typing import TextIO

from .services import Progress


def render_progress(p: Progress, width: int = 30) -> str:
    """``[#########.....]  12/40  1 failed  00:31 elapsed  ~01:10 left``."""
    finished = p.done + p.failed
    filled = width if p.total == 0 else min(width, width * finished // p.total)
    parts = [f"[{'#' * filled}{'.' * (width - filled)}]", f"{finished}/{p.total}"]
    if p.failed:
        parts.append(f"{p.failed} failed")
    parts.append(f"{_clock(p.elapsed_s)} elapsed")
    if 0 < finished < p.total:
        parts.append(f"~{_clock(p.elapsed_s / finished * (p.total - finished))} left")
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Redraws one line on a terminal; writes a line per update anywhere else (logs, CI)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._drawn = False

    def update(self, progress: Progress) -> None:
        line = render_progress(progress)
        if self._tty:
            self._out.write("\r" + line)
            self._drawn = True
        else:
            self._out.write(line + "\n")
        self._out.flush()

    def finish(self) -> None:
        if self._drawn:
            self._out.write("\n")
            self._out.flush()
