from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from server.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_the_example_file_is_valid_and_holds_the_defaults() -> None:
    from_file = load_config(REPO / "switchboard.example.toml", environ={})
    defaults = load_config(environ={})
    assert from_file == defaults


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sb.toml"
    path.write_text('[server]\nport = 9000\n[ami]\nhost = "10.0.0.5"\n')
    config = load_config(
        path, environ={"SWITCHBOARD_SERVER__PORT": "9100", "DATABASE_URL": "postgresql://h/db"}
    )
    assert config.server.port == 9100
    assert config.ami.host == "10.0.0.5"
    assert config.database.url.get_secret_value() == "postgresql://h/db"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[ami]\nport = 70000\n", "ami.port"),
        ("[timers]\nring_timeout_s = -1\n", "timers.ring_timeout_s"),
        ("[asterisk]\nmode = 'cloud'\n", "asterisk.mode"),
        ("[server]\nprot = 1\n", "server.prot"),
    ],
)
def test_invalid_configuration_names_the_bad_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, environ={})


def test_a_broken_file_fails_at_start_with_a_message(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[server\nport = 1")
    assert main(["--config", str(path), "db", "migrate"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_secrets_do_not_show_in_the_configs_text() -> None:
    config = load_config(environ={"SWITCHBOARD_AMI__SECRET": "hunter2-ami"})
    assert config.ami.secret.get_secret_value() == "hunter2-ami"
    assert "hunter2-ami" not in repr(config)
    assert "hunter2-ami" not in str(config.model_dump())
