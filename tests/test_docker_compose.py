"""docker-compose.yml, checked without Docker: the services agree on ports, secrets and
paths, and the Asterisk configuration they mount is the one the server renders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from server.cli import build_parser
from server.config import Config, load_config
from server.stack import debian_layout, render_asterisk_config

ROOT = Path(__file__).resolve().parent.parent
# What a user puts in .env (docker compose refuses to start without these two).
DOT_ENV = {"AMI_SECRET": "0123456789abcdef", "POSTGRES_PASSWORD": "pg-secret"}

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """docker compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw_compose, DOT_ENV)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def server_config(services: dict[str, Any]) -> Config:
    return load_config(None, environ=services["switchboard"]["environment"])


@pytest.fixture(scope="module")
def rendered(server_config: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = render_asterisk_config(server_config, tmp_path_factory.mktemp("asterisk-etc"))
    return {p.name: p.read_text() for p in out.iterdir()}


def option(text: str, section: str, key: str) -> str:
    body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    match = re.search(rf"^{re.escape(key)}\s*=>?\s*(.+)$", body, re.M)
    assert match, f"{key} not in [{section}]"
    return match[1].strip()


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → source of each volume of a service."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def test_the_three_services_and_the_config_renderer_exist(services: dict[str, Any]) -> None:
    assert {"postgres", "asterisk", "asterisk-config", "switchboard"} <= services.keys()
    assert services["postgres"]["image"] == "postgres:16"


def test_the_user_must_provide_the_secrets(raw_compose: dict[str, Any]) -> None:
    for missing in DOT_ENV:
        env = {k: v for k, v in DOT_ENV.items() if k != missing}
        with pytest.raises(KeyError, match=missing):
            interpolate(raw_compose, env)


def test_renderer_and_server_share_one_environment(services: dict[str, Any]) -> None:
    assert services["asterisk-config"]["environment"] == services["switchboard"]["environment"]


def test_ami_in_manager_conf_is_what_the_server_connects_to(
    server_config: Config, rendered: dict[str, str]
) -> None:
    manager = rendered["manager.conf"]
    assert int(option(manager, "general", "port")) == server_config.ami.port
    assert option(manager, "general", "bindaddr") == server_config.ami.host
    assert option(manager, server_config.ami.username, "secret") == DOT_ENV["AMI_SECRET"]
    assert option(manager, server_config.ami.username, "permit").startswith(
        server_config.ami.host + "/"
    )


def test_fastagi_in_the_dialplan_is_where_the_server_listens(
    server_config: Config, rendered: dict[str, str]
) -> None:
    dialplan = rendered["extensions.conf"]
    assert int(option(dialplan, "globals", "AGI_PORT")) == server_config.agi.port
    assert option(dialplan, "globals", "AGI_HOST") == server_config.agi.advertised_host
    assert server_config.agi.host == server_config.agi.advertised_host  # one network: the host's


def test_sip_transport_binds_the_configured_address_and_port(
    server_config: Config, rendered: dict[str, str]
) -> None:
    bind = option(rendered["pjsip.conf"], "transport-udp", "bind")
    assert bind == f"{server_config.asterisk.bind_address}:{server_config.asterisk.sip_port}"


def test_asterisk_and_server_share_the_host_network(services: dict[str, Any]) -> None:
    # AMI, FastAGI, SIP and RTP go over the host's addresses: no published port can
    # drift from the rendered configuration, and SDP carries real addresses.
    assert services["asterisk"]["network_mode"] == "host"
    assert services["switchboard"]["network_mode"] == "host"


def test_database_url_reaches_the_published_postgres(
    services: dict[str, Any], server_config: Config
) -> None:
    url = urlsplit(server_config.database.url.get_secret_value())
    postgres = services["postgres"]
    [published] = postgres["ports"]
    host, port, container_port = published.split(":")
    assert (url.hostname, url.port, container_port) == (host, int(port), "5432")
    env = postgres["environment"]
    assert url.username == env["POSTGRES_USER"]
    assert url.password == env["POSTGRES_PASSWORD"]
    assert url.path == "/" + env["POSTGRES_DB"]


def test_asterisk_mounts_the_directory_the_renderer_writes(services: dict[str, Any]) -> None:
    renderer = services["asterisk-config"]
    out = renderer["command"][renderer["command"].index("--out") + 1]
    host_dir = mounts(renderer)[out]
    assert mounts(services["asterisk"])[str(debian_layout().etc)] == host_dir
    assert services["asterisk"]["depends_on"]["asterisk-config"] == {
        "condition": "service_completed_successfully"
    }
    # `switchboard asterisk render` run on the host writes there by default too.
    defaults = build_parser().parse_args(["asterisk", "render"])
    assert Path(host_dir) == Path(".") / defaults.out


def test_server_rewrites_accounts_in_the_mounted_asterisk_config(
    services: dict[str, Any], server_config: Config
) -> None:
    server_mounts = mounts(services["switchboard"])
    assert server_config.asterisk.etc_dir == debian_layout().etc
    assert (
        server_mounts[str(debian_layout().etc)]
        == mounts(services["asterisk"])[str(debian_layout().etc)]
    )


def test_server_reads_what_asterisk_records(services: dict[str, Any]) -> None:
    spool = str(debian_layout().spool)
    assert mounts(services["switchboard"])[spool] == mounts(services["asterisk"])[spool]


def test_server_starts_after_its_database_and_asterisk_are_healthy(
    services: dict[str, Any],
) -> None:
    assert services["switchboard"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "asterisk": {"condition": "service_healthy"},
    }
    assert "healthcheck" in services["postgres"]


def test_dockerfiles_build_debian_asterisk_and_the_python_package(
    services: dict[str, Any],
) -> None:
    asterisk = (ROOT / services["asterisk"]["build"]["context"] / "Dockerfile").read_text()
    assert "FROM debian:sid-slim" in asterisk
    for package in ("asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm"):
        assert re.search(rf"^\s+{re.escape(package)} \\$", asterisk, re.M), package
    assert "HEALTHCHECK" in asterisk
    build = services["switchboard"]["build"]
    server = (ROOT / build["context"] / build["dockerfile"]).read_text()
    assert "FROM python:3.11-slim" in server
    assert "pip install --no-cache-dir ." in server
    ignore = (ROOT / build["context"] / (build["dockerfile"] + ".dockerignore")).read_text()
    assert ".venv" in ignore.split()
