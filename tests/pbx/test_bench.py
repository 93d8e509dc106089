"""The AMI pipeline benchmark still runs and still checks what it claims (small size)."""

from __future__ import annotations

import json

import pytest

from bench.ami_pipeline import main


def test_benchmark_runs_and_counts_every_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--events", "5000"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["events"] >= 5000
    keys = {"events", "events_per_s", "baseline_events_per_s", "ratio", "peak_rss_mb"}
    assert set(result) == keys
