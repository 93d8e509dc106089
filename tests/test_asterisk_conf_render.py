"""Asterisk configuration rendering (pure) and the pure helpers of provisioning."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from pathlib import Path

import pytest

from asterisk_conf.instance import launch_argv
from asterisk_conf.provision import (
    DEFAULT_MIRROR,
    PACKAGES,
    ProvisionedAsterisk,
    SystemAsterisk,
    debian_mirror,
    major_version,
    missing_packages,
    relative_sound_links,
    version_changed_warning,
)
from asterisk_conf.render import (
    ACCOUNTS_FILE,
    QUEUE_MEMBERS_FILE,
    AsteriskSettings,
    InstanceLayout,
    SipAccount,
    render_accounts,
    render_config,
    render_queue_members,
    write_accounts,
    write_config,
)

LAYOUT = InstanceLayout.under(
    Path("/srv/sb/instance"),
    data_dir=Path("/usr/share/asterisk"),
    modules_dir=Path("/usr/lib/x86_64-linux-gnu/asterisk/modules"),
)


def make_settings(**changes: object) -> AsteriskSettings:
    values: dict[str, object] = {
        "bind_address": "127.0.0.7",
        "sip_port": 25060,
        "rtp_start": 26000,
        "rtp_end": 26099,
        "http_port": 25088,
        "ami_port": 25038,
        "ami_username": "switchboard",
        "ami_secret": "s3cr3t-AMI",
        "agi_host": "127.0.0.9",
        "agi_port": 24573,
        "inbound_number": "74951234567",
        "layout": LAYOUT,
        "accounts": (SipAccount("1001", "pw-1001", caller_name="Анна"), SipAccount("1002", "pw")),
    }
    values.update(changes)
    return AsteriskSettings(**values)  # type: ignore[arg-type]


def sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """(name, options) per section of an Asterisk config file, in order."""
    result: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            result.append((line[1 : line.index("]")], {}))
        elif result and ("=" in line):
            key, _, value = line.partition("=>" if "=>" in line else "=")
            result[-1][1][key.strip().rstrip("=").strip()] = value.lstrip(">").strip()
    return result


def options(text: str, section: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, opts in sections(text):
        if name == section:
            merged.update(opts)
    return merged


# ---- what is rendered --------------------------------------------------------------------


def test_every_listener_uses_the_given_address_and_port() -> None:
    files = render_config(make_settings())
    assert options(files["pjsip.conf"], "transport-udp")["bind"] == "127.0.0.7:25060"
    manager = options(files["manager.conf"], "general")
    assert (manager["bindaddr"], manager["port"]) == ("127.0.0.7", "25038")
    http = options(files["http.conf"], "general")
    assert (http["bindaddr"], http["bindport"], http["enabled"]) == ("127.0.0.7", "25088", "no")
    rtp = options(files["rtp.conf"], "general")
    assert (rtp["rtpstart"], rtp["rtpend"]) == ("26000", "26099")
    endpoint = options(files["pjsip.conf"], "agent-endpoint")
    assert endpoint["media_address"] == "127.0.0.7"
    assert endpoint["bind_rtp_to_media_address"] == "yes"


def test_no_address_but_the_bind_address_appears_outside_the_ami_acl() -> None:
    for name, text in render_config(make_settings()).items():
        for line in text.splitlines():
            if line.startswith(("deny", "permit")):
                continue
            for address in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", line):
                assert address in ("127.0.0.7", "127.0.0.9"), f"{name}: {line}"
    assert "0.0.0.0" not in "".join(render_config(make_settings()).values()).replace(
        "deny = 0.0.0.0/0.0.0.0", ""
    )


def test_ami_user_may_log_in_only_from_the_permitted_network() -> None:
    manager = render_config(make_settings())["manager.conf"]
    user = options(manager, "switchboard")
    assert user["secret"] == "s3cr3t-AMI"
    assert user["deny"] == "0.0.0.0/0.0.0.0"
    assert user["permit"] == "127.0.0.7/255.255.255.255"
    wider = render_config(make_settings(ami_permit="172.18.0.0/16"))["manager.conf"]
    assert options(wider, "switchboard")["permit"] == "172.18.0.0/255.255.0.0"


def test_directories_are_the_instance_layout_and_the_installation_data() -> None:
    dirs = options(render_config(make_settings())["asterisk.conf"], "directories")
    assert dirs["astetcdir"] == "/srv/sb/instance/etc"
    assert dirs["astrundir"] == "/srv/sb/instance/run"
    assert dirs["astspooldir"] == "/srv/sb/instance/spool"
    assert dirs["astlogdir"] == "/srv/sb/instance/log"
    assert dirs["astdbdir"] == "/srv/sb/instance/db"
    assert dirs["astdatadir"] == "/usr/share/asterisk"
    assert dirs["astmoddir"] == "/usr/lib/x86_64-linux-gnu/asterisk/modules"


def test_modules_are_an_explicit_list() -> None:
    modules = render_config(make_settings())["modules.conf"]
    assert options(modules, "modules")["autoload"] == "no"
    loaded = re.findall(r"^load => (\S+)$", modules, re.M)
    for needed in ("chan_pjsip.so", "app_queue.so", "res_agi.so", "app_mixmonitor.so"):
        assert needed in loaded
    assert len(loaded) == len(set(loaded))


def test_dialplan_runs_the_ivr_over_fastagi_and_falls_back_to_queue_then_voicemail() -> None:
    dialplan = render_config(make_settings())["extensions.conf"]
    globals_ = options(dialplan, "globals")
    assert (globals_["AGI_HOST"], globals_["AGI_PORT"]) == ("127.0.0.9", "24573")
    ivr = dialplan[dialplan.index("[ivr-in]") : dialplan.index("[caller-robot]")]
    assert "exten => 74951234567,1," in ivr
    order = [ivr.index(s) for s in ("AGI(agi://", "Queue(fallback-all", "VoiceMail(")]
    assert order == sorted(order)
    assert " same => n,Dial(PJSIP/${EXTEN},${RING_TIMEOUT},tT)" in dialplan


def test_transfer_features_are_mapped() -> None:
    featuremap = options(render_config(make_settings())["features.conf"], "featuremap")
    assert (featuremap["atxfer"], featuremap["blindxfer"]) == ("*2", "#1")


def test_every_placeholder_is_filled() -> None:
    for name, text in render_config(make_settings()).items():
        assert "@@" not in text, name


def test_rendering_is_deterministic() -> None:
    assert render_config(make_settings()) == render_config(make_settings())


def test_accounts_become_endpoint_auth_and_aor() -> None:
    text = render_accounts((SipAccount("1001", "pw-1001", caller_name="Анна"),))
    parsed = sections(text)
    assert [name for name, _ in parsed] == ["1001", "1001-auth", "1001"]
    endpoint, auth, aor = (opts for _, opts in parsed)
    assert endpoint["auth"] == "1001-auth" and endpoint["aors"] == "1001"
    assert endpoint["context"] == "agents"
    assert endpoint["callerid"] == '"Анна" <1001>'
    assert (auth["username"], auth["password"]) == ("1001", "pw-1001")
    assert "[1001](agent-endpoint)" in text and "[1001](agent-aor)" in text
    aor_template = options(render_config(make_settings())["pjsip.conf"], "agent-aor")
    assert (aor_template["max_contacts"], aor_template["remove_existing"]) == ("1", "yes")
    assert aor == {}


def test_config_includes_the_account_files_rendered_from_the_settings() -> None:
    settings = make_settings()
    files = render_config(settings)
    assert "#include pjsip_accounts.conf" in files["pjsip.conf"]
    assert "#include queue_fallback_members.conf" in files["queues.conf"]
    assert files[ACCOUNTS_FILE] == render_accounts(settings.accounts)
    assert files[QUEUE_MEMBERS_FILE] == render_queue_members(settings.accounts)
    assert "member => PJSIP/1002,0,1002,PJSIP/1002" in files[QUEUE_MEMBERS_FILE]


def test_no_accounts_render_valid_empty_files() -> None:
    assert sections(render_accounts(())) == []
    assert "member" not in render_queue_members(()).split("\n", 1)[1]


# ---- what is refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "10 01", "1001]", "1001\n[evil]", "a;b", "x" * 65, "é", "a/b", "#include"]
)
def test_account_names_that_could_inject_configuration_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="SIP account name"):
        SipAccount(name, "pw")


@pytest.mark.parametrize(
    "secret", ["", "pw;x", "pw\n[evil]", "pw\rx", "a b", "[x]", '"q"', "back\\slash", "#x"]
)
def test_secrets_that_could_inject_configuration_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        SipAccount("1001", secret)
    with pytest.raises(ValueError, match="AMI secret"):
        make_settings(ami_secret=secret)


@pytest.mark.parametrize("caller_name", ['A"B', "A\nB", "A;B", "A<B", "A[B]", "x" * 65])
def test_caller_names_that_could_break_the_callerid_are_refused(caller_name: str) -> None:
    with pytest.raises(ValueError, match="caller name"):
        SipAccount("1001", "pw", caller_name=caller_name)


def test_secrets_are_not_in_reprs() -> None:
    assert "pw-1001" not in repr(SipAccount("1001", "pw-1001"))
    assert "s3cr3t-AMI" not in repr(make_settings())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bind_address": "localhost"}, "bind_address"),
        ({"bind_address": "127.0.0.1\n[x]"}, "bind_address"),
        ({"bind_address": "::1"}, "bind_address"),
        ({"sip_port": 0}, "sip_port"),
        ({"ami_port": 70000}, "ami_port"),
        ({"http_port": True}, "http_port"),
        ({"rtp_start": 26000, "rtp_end": 26000}, "rtp_end"),
        ({"sip_port": 26050}, "RTP range"),
        ({"http_port": 25038}, "same port"),
        ({"ami_username": "sb;x"}, "AMI user name"),
        ({"agi_host": "host name"}, "agi_host"),
        ({"agi_host": "h\n[x]"}, "agi_host"),
        ({"inbound_number": "500;x"}, "inbound_number"),
        ({"inbound_number": "_X."}, "inbound_number"),
        ({"ami_permit": "everyone"}, "ami_permit"),
        ({"bind_address": "0.0.0.0"}, "ami_permit must be set"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
        ({"accounts": (SipAccount("1", "a"), SipAccount("1", "b"))}, "two SIP accounts"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_settings(**changes)


@pytest.mark.parametrize("path", ["relative/etc", "/srv/a;b", "/srv/[x]", "/srv/a\nb"])
def test_layout_paths_must_be_absolute_and_plain(path: str) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        dataclasses.replace(LAYOUT, etc=Path(path))


# ---- writing -------------------------------------------------------------------------------


def test_write_config_writes_every_rendered_file_readable_by_owner_only(tmp_path: Path) -> None:
    settings = make_settings()
    write_config(settings, tmp_path / "etc")
    expected = render_config(settings)
    written = {p.name: p.read_text() for p in (tmp_path / "etc").iterdir()}
    assert written == expected
    mode = stat.S_IMODE((tmp_path / "etc" / "manager.conf").stat().st_mode)
    assert mode == 0o600


def test_write_accounts_replaces_both_account_files_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    write_config(make_settings(), tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    accounts = (SipAccount("2001", "new-pw"),)
    write_accounts(accounts, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == before
    assert (tmp_path / ACCOUNTS_FILE).read_text() == render_accounts(accounts)
    assert "PJSIP/2001" in (tmp_path / QUEUE_MEMBERS_FILE).read_text()
    assert "1001" not in (tmp_path / ACCOUNTS_FILE).read_text()


# ---- provisioning helpers -------------------------------------------------------------------


def test_debian_mirror_is_read_from_deb822_sources_skipping_security() -> None:
    deb822 = """Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
# a comment
URIs: http://mirror.local/debian/
Suites: bookworm bookworm-updates
Components: main
"""
    assert debian_mirror([], [deb822]) == "http://mirror.local/debian"


def test_debian_mirror_is_read_from_one_line_sources_with_options() -> None:
    listing = (
        "# deb http://old/debian sid main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
    )
    assert debian_mirror([listing], []) == "http://m.example/debian"


def test_debian_mirror_falls_back_to_deb_debian_org() -> None:
    third_party = "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
    assert (
        debian_mirror([third_party], ["Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"])
        == DEFAULT_MIRROR
    )


def test_snapshot_archive_counts_as_a_debian_mirror() -> None:
    listing = "deb http://snapshot.debian.org/archive/debian/20250520T000000Z bookworm main\n"
    assert debian_mirror([listing], []).endswith("/archive/debian/20250520T000000Z")


def test_major_version_of_debian_package_versions() -> None:
    assert major_version("1:22.10.1+dfsg+~cs6.17.60671434-1") == 22
    assert major_version("23.0.0") == 23
    with pytest.raises(ValueError):
        major_version("unknown")


def test_a_new_major_version_is_warned_about_loudly() -> None:
    assert version_changed_warning(None, "1:22.10.1-1") is None
    assert version_changed_warning("1:22.9.0-1", "1:22.10.1-1") is None
    warning = version_changed_warning("1:22.10.1-1", "1:23.0.0-1")
    assert warning is not None and "MAJOR VERSION CHANGED" in warning


def test_chroot_launch_execs_asterisk_in_a_private_mount_namespace() -> None:
    install = ProvisionedAsterisk(
        Path("/cache/root"), "1:22.10.1-1", LAYOUT.modules_dir, LAYOUT.data_dir
    )
    argv = launch_argv(install, Path("/srv/sb/instance"), ["-f"])
    assert argv[:3] == ["setpriv", "--pdeathsig", "KILL"]
    assert argv[3:7] == ["unshare", "--mount", "--propagation", "private"]
    assert argv[-4:] == ["/cache/root", "/srv/sb/instance", "asterisk", "-f"]
    script = argv[argv.index("-c") + 1]
    assert 'exec chroot "$root" "$@"' in script


def test_system_launch_runs_the_host_binary() -> None:
    install = SystemAsterisk(Path("/usr/sbin/asterisk"), "22.1.0", Path("/m"), Path("/d"))
    assert launch_argv(install, Path("/srv/x"), ["-f"]) == [
        "setpriv", "--pdeathsig", "KILL", "/usr/sbin/asterisk", "-f"
    ]  # fmt: skip


def test_sound_links_through_alternatives_become_relative(tmp_path: Path) -> None:
    sounds = tmp_path / "usr/share/asterisk/sounds"
    (sounds / "en_US_f_Allison").mkdir(parents=True)
    (tmp_path / "etc/alternatives").mkdir(parents=True)
    (tmp_path / "etc/alternatives/prompt-en").symlink_to(
        "/usr/share/asterisk/sounds/en_US_f_Allison"
    )
    (sounds / "en").symlink_to("/etc/alternatives/prompt-en")
    (sounds / "recordings").symlink_to("/var/lib/asterisk/sounds/custom")
    relative_sound_links(tmp_path, sounds)
    assert os.readlink(sounds / "en") == "en_US_f_Allison"
    assert os.readlink(sounds / "recordings") == "/var/lib/asterisk/sounds/custom"


def test_a_cached_root_is_told_which_packages_it_lacks() -> None:
    """A root cached by an older checkout is topped up with what PACKAGES has gained;
    dpkg-query's lines say what is installed (``ii``), half-installed or unknown."""
    everything = "".join(f"{p} ii \n" for p in PACKAGES)
    assert missing_packages(everything) == []
    older = "asterisk ii \nasterisk-core-sounds-en-gsm ii \nasterisk-moh-opsound-gsm iU \n"
    assert missing_packages(older) == [
        p for p in PACKAGES if p not in ("asterisk", "asterisk-core-sounds-en-gsm")
    ]
    assert missing_packages("") == list(PACKAGES)
