"""Where an Asterisk 22 comes from: the host's own, or a cached Debian sid root file system.

Debian bookworm has no ``asterisk`` package; sid has Asterisk 22. :func:`provision`
builds (once) a minimal sid root with ``debootstrap`` and installs Debian's asterisk,
sounds and hold music into it; instances then run it under ``chroot`` (see
``asterisk_conf.instance``). Provisioning needs root and network access to a Debian
mirror; it is idempotent, takes a file lock so concurrent runs wait for each other,
and builds into a temporary directory renamed into place only when complete, so an
interrupted run never leaves a root that a later run would trust.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("~/.cache/switchboard/asterisk-sid").expanduser()
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "sid"
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-core-sounds-ru-gsm",
    "asterisk-moh-opsound-gsm",
)
# Written into the root last: a root without it is not trusted.
MARKER_NAME = ".switchboard-provisioned.json"
# Where Debian's package puts things, relative to the root (checked after install).
DATA_DIR = Path("/usr/share/asterisk")
_MODULES_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/asterisk/modules"),
    Path("/usr/lib/aarch64-linux-gnu/asterisk/modules"),
    Path("/usr/lib/asterisk/modules"),
    Path("/usr/lib64/asterisk/modules"),
)
_DATA_DIRS = (DATA_DIR, Path("/var/lib/asterisk"))
_APT_OPTIONS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Dpkg::Use-Pty=0")


class ProvisioningError(RuntimeError):
    """Asterisk could not be provisioned; the message says which step failed."""


@dataclass(frozen=True)
class ProvisionedAsterisk:
    """Asterisk installed in a root file system, run with ``chroot``.

    ``modules_dir`` and ``data_dir`` are paths as Asterisk sees them (inside ``root``).
    """

    root: Path
    version: str
    modules_dir: Path
    data_dir: Path

    def host_path(self, inside: Path) -> Path:
        """The host path of a path inside the root."""
        return self.root / inside.relative_to("/")


@dataclass(frozen=True)
class SystemAsterisk:
    """The host's own ``asterisk`` binary; paths are host paths."""

    binary: Path
    version: str
    modules_dir: Path
    data_dir: Path

    def host_path(self, inside: Path) -> Path:
        return inside


Installation = ProvisionedAsterisk | SystemAsterisk


# ---- pure helpers -------------------------------------------------------------------


def debian_mirror(sources_list_texts: Iterable[str], deb822_texts: Iterable[str]) -> str:
    """The Debian archive URI among apt sources (one-line ``.list`` and deb822 ``.sources``).

    Security and backports archives are skipped: debootstrap needs the main archive.
    Falls back to :data:`DEFAULT_MIRROR`.
    """
    candidates: list[str] = []
    for text in sources_list_texts:
        for line in text.splitlines():
            # "deb [arch=amd64 signed-by=...] URI SUITE COMPONENTS..." — options dropped.
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                candidates.append(words[1])
    for text in deb822_texts:
        for stanza in re.split(r"\n\s*\n", text):
            fields = _deb822_fields(stanza)
            if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
                continue
            candidates.extend(fields.get("uris", "").split())
    for uri in candidates:
        if _is_main_archive(uri):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and key is not None:
            fields[key] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        fields[key] = value.strip()
    return fields


def _is_main_archive(uri: str) -> bool:
    # The main archive ends in /debian (or /archive/debian/<timestamp> on snapshot.d.o);
    # debian-security and debian-ports end otherwise.
    return re.match(r"^https?://.+/debian(/\d{8}T\d{6}Z)?/?$", uri) is not None


def major_version(version: str) -> int:
    """The Asterisk major version of a Debian package version (``1:22.10.1~dfsg-1`` → 22)."""
    match = re.match(r"^(?:\d+:)?(\d+)\.", version)
    if match is None:
        raise ValueError(f"not an Asterisk version: {version!r}")
    return int(match[1])


def version_changed_warning(previous: str | None, current: str) -> str | None:
    """A warning when a provisioning brings another major version than the last one."""
    if previous is None or major_version(previous) == major_version(current):
        return None
    return (
        f"ASTERISK MAJOR VERSION CHANGED: previously provisioned {previous}, now {current}. "
        "Debian sid moves; configuration templates and AMI events may differ."
    )


# ---- the host's own Asterisk ----------------------------------------------------------


def find_system_asterisk() -> SystemAsterisk | None:
    """The host's ``asterisk`` when one is on PATH with its modules and data installed."""
    binary = shutil.which("asterisk")
    if binary is None:
        return None
    modules_dir = next((d for d in _MODULES_DIRS if (d / "app_dial.so").exists()), None)
    data_dir = next((d for d in _DATA_DIRS if (d / "sounds").is_dir()), None)
    if modules_dir is None or data_dir is None:
        log.warning(
            "asterisk found on PATH but not its modules or sounds; ignoring it",
            extra={"binary": binary},
        )
        return None
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, check=True).stdout
    version = out.strip().removeprefix("Asterisk ").strip()
    return SystemAsterisk(Path(binary), version, modules_dir, data_dir)


# ---- provisioning -----------------------------------------------------------------------


def provision(cache_dir: Path = DEFAULT_CACHE_DIR, *, refresh: bool = False) -> ProvisionedAsterisk:
    """A root file system with Debian sid's Asterisk at ``cache_dir``, built if missing.

    ``refresh=True`` builds a new root even when one exists (to pick up a newer sid)
    and replaces the old one: no instance may be running from it then.
    Blocks while another process provisions the same ``cache_dir``.
    """
    cache_dir = cache_dir.expanduser().absolute()
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = cache_dir.with_name(cache_dir.name + ".lock")
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = _read_marker(cache_dir)
        if existing is not None and not refresh:
            _bring_up_to_date(cache_dir)
            return existing
        _remove_stale_builds(cache_dir)
        building = cache_dir.with_name(f".{cache_dir.name}.building-{os.getpid()}")
        started = time.monotonic()
        try:
            installed = _build(building)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        version_record = cache_dir.with_name(cache_dir.name + ".version")
        previous = version_record.read_text().strip() if version_record.exists() else None
        warning = version_changed_warning(previous, installed.version)
        if warning:
            log.warning(warning)
        if cache_dir.exists():
            old = cache_dir.with_name(f".{cache_dir.name}.old-{os.getpid()}")
            cache_dir.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        building.rename(cache_dir)
        version_record.write_text(installed.version + "\n")
        log.info(
            "asterisk provisioned",
            extra={
                "root": str(cache_dir),
                "version": installed.version,
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        return ProvisionedAsterisk(
            cache_dir, installed.version, installed.modules_dir, installed.data_dir
        )


def _read_marker(root: Path) -> ProvisionedAsterisk | None:
    try:
        data = json.loads((root / MARKER_NAME).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    return ProvisionedAsterisk(
        root, data["version"], Path(data["modules_dir"]), Path(data["data_dir"])
    )


def _remove_stale_builds(cache_dir: Path) -> None:
    # Left by runs that were killed; we hold the lock, so nobody is using them.
    for stale in cache_dir.parent.glob(f".{cache_dir.name}.*-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _build(root: Path) -> ProvisionedAsterisk:
    for tool in ("debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            raise ProvisioningError(f"{tool} is not installed (scripts/install installs it)")
    if os.geteuid() != 0:
        raise ProvisioningError("provisioning Asterisk into a chroot needs root")
    mirror = debian_mirror(*_host_apt_sources())
    log.info("debootstrap", extra={"suite": SUITE, "mirror": mirror, "root": str(root)})
    # debootstrap mounts /proc and /sys in the target; a private mount namespace makes
    # sure they are gone even if it is killed halfway.
    _run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "debootstrap",
            "--variant=minbase",
            SUITE,
            str(root),
            mirror,
        ],
        "debootstrap",
    )
    _write(
        root / "usr/sbin/policy-rc.d", "#!/bin/sh\n# No services start in this root.\nexit 101\n"
    )
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    _write(
        root / "etc/dpkg/dpkg.cfg.d/01-switchboard-nodoc",
        "path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\n"
        "path-exclude=/usr/share/info/*\n",
    )
    _apt_install(root, PACKAGES)
    version = _run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", "${Version}", "asterisk"], "dpkg-query"
    ).strip()
    modules_dir = next(
        (d for d in _MODULES_DIRS if (root / d.relative_to("/") / "app_dial.so").exists()), None
    )
    if modules_dir is None:
        raise ProvisioningError(f"asterisk installed in {root} but its modules were not found")
    _arrange_sounds(root)
    installed = ProvisionedAsterisk(root, version, modules_dir, DATA_DIR)
    _write(
        root / MARKER_NAME,
        json.dumps(
            {
                "version": version,
                "modules_dir": str(modules_dir),
                "data_dir": str(DATA_DIR),
                "mirror": mirror,
                "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        ),
    )
    return installed


def _bring_up_to_date(root: Path) -> None:
    """A root cached by an older checkout gets what this one needs: the packages added
    to :data:`PACKAGES` since (installed in place: additive, so instances running from
    the root are not disturbed) and the sound links as they are arranged now. A fresh
    clone on a machine with an old cache would otherwise run with missing prompts."""
    if os.geteuid() != 0:
        return  # chroot needs root; such a user cannot have provisioned it either
    missing = missing_packages(_installed_packages(root))
    if missing:
        log.info("asterisk root lacks packages; installing", extra={"packages": missing})
        _apt_install(root, missing)
    _arrange_sounds(root)


def _apt_install(root: Path, packages: Iterable[str]) -> None:
    # /proc mounted in a private mount namespace: gone with it, even if killed halfway.
    env = "DEBIAN_FRONTEND=noninteractive"
    apt = " ".join(("apt-get", *_APT_OPTIONS))
    script = (
        f"mount -t proc proc {root}/proc && "
        f"chroot {root} env {env} {apt} update && "
        f"chroot {root} env {env} {apt} install -y --no-install-recommends {' '.join(packages)} && "
        f"chroot {root} apt-get clean"
    )
    _run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], "apt-get install")


def _installed_packages(root: Path) -> str:
    # dpkg-query exits 1 when it knows of a package nobody installed: read stdout anyway.
    result = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n",
         *PACKAGES],
        capture_output=True, text=True, errors="replace",
    )  # fmt: skip
    return result.stdout


def missing_packages(dpkg_query_output: str) -> list[str]:
    """Which of :data:`PACKAGES` ``dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n'``
    does not report as installed (``ii``)."""
    installed = set()
    for line in dpkg_query_output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].startswith("ii"):
            installed.add(fields[0])
    return [package for package in PACKAGES if package not in installed]


def _arrange_sounds(root: Path) -> None:
    sounds = root / DATA_DIR.relative_to("/") / "sounds"
    # Debian names the Russian prompts' directory after the voice; language "ru" looks
    # for sounds/ru.
    if (sounds / "ru_RU_f_IvrvoiceRU").is_dir() and not (sounds / "ru").exists():
        (sounds / "ru").symlink_to("ru_RU_f_IvrvoiceRU")
    relative_sound_links(root, sounds)


def relative_sound_links(root: Path, sounds: Path) -> None:
    """Turn absolute links between language directories into relative ones.

    Debian's ``en`` and ``en_US`` point through ``/etc/alternatives``, which resolves
    only inside the root; relative links resolve from the host too (to check or
    convert prompts). Each link is replaced atomically.
    """
    for link in sounds.iterdir():
        if not link.is_symlink() or not os.readlink(link).startswith("/"):
            continue
        target = link
        for _ in range(8):  # a few hops through /etc/alternatives at most
            if not target.is_symlink():
                break
            dest = Path(os.readlink(target))
            target = root / dest.relative_to("/") if dest.is_absolute() else target.parent / dest
        if target.parent == sounds and target.is_dir() and not target.is_symlink():
            fresh = link.with_name(f".{link.name}.tmp")
            fresh.unlink(missing_ok=True)
            fresh.symlink_to(target.name)
            fresh.replace(link)


def _host_apt_sources() -> tuple[list[str], list[str]]:
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    return (
        [p.read_text(errors="replace") for p in lists if p.is_file()],
        [p.read_text(errors="replace") for p in sources if p.is_file()],
    )


def _run(argv: list[str], step: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ProvisioningError(f"{step} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
