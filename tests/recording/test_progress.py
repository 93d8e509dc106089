"""The backlog command's progress line (pure)."""

from __future__ import annotations

from recording.progress import render_progress
from recording.services import Progress


def test_progress_line_shows_counts_failures_and_time_left() -> None:
    line = render_progress(Progress(done=3, failed=1, total=8, elapsed_s=40.0), width=8)
    assert line == "[####....]  4/8  1 failed  00:40 elapsed  ~00:40 left"
    assert render_progress(Progress(0, 0, 0, 0.0), width=4) == "[####]  0/0  00:00 elapsed"
