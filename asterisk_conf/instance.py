"""One running Asterisk: its own configuration, directories and ports.

With a provisioned root (``ProvisionedAsterisk``) Asterisk runs under ``chroot`` in a
private mount namespace of its own: ``/proc`` and the instance directory are mounted
there and nowhere else, so they vanish with the process and two instances never see
each other's mounts. The instance directory is bind-mounted at the *same* path inside
the root: a path Asterisk writes (a MixMonitor recording, a voicemail) is the path the
host reads, and a path the server gives Asterisk (a prompt to play) is the host's.

The PID held is Asterisk's own (``setpriv``, ``unshare``, ``sh`` and ``chroot`` all
``exec`` the next one), so signals (:meth:`AsteriskInstance.freeze`) reach Asterisk,
and ``setpriv --pdeathsig KILL`` ends Asterisk if our process dies without stopping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from asterisk_conf.provision import Installation, ProvisionedAsterisk
from asterisk_conf.render import AsteriskSettings, InstanceLayout, write_config

log = logging.getLogger(__name__)

# Asterisk's stdout and stderr (start-up failures show up here before the log exists).
OUTPUT_FILE = "asterisk.out"
# Ports handed out by allocate_* are taken below the kernel's ephemeral range, so an
# outgoing connection never grabs one between allocation and use.
_PORT_FLOOR = 20000

# Runs as "sh -c SCRIPT sh ROOT INSTANCE_DIR ASTERISK_ARGV..." in a fresh private mount
# namespace. When the instance directory's top-level directory is empty (or missing) in
# the root — /tmp, /root, /home, /work — a tmpfs is laid over it first, so the mount
# point chain is created in memory and no empty directories pile up in the cached root
# (under a non-empty one such as /var, the chain is created in the root and stays).
_CHROOT_SCRIPT = """set -e
root=$1; dir=$2; shift 2
mount -t proc proc "$root/proc"
top=${dir#/}; top=/${top%%/*}
mkdir -p "$root$top"
if [ -z "$(ls -A "$root$top")" ]; then
  mount -t tmpfs -o "mode=$(stat -c %a "$root$top")" tmpfs "$root$top"
fi
mkdir -p "$root$dir"
mount --bind "$dir" "$root$dir"
exec chroot "$root" "$@"
"""


class AsteriskStartError(RuntimeError):
    """Asterisk did not come up; the message carries the end of its output and log."""


# ---- ports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstancePorts:
    sip: int
    ami: int
    http: int
    rtp_start: int
    rtp_end: int


_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def allocate_port_block(size: int, host: str = "127.0.0.1", *, align: int = 2) -> int:
    """The first of ``size`` consecutive ports, all free for TCP and UDP right now.

    Blocks never overlap one handed out before by this process; other processes are
    avoided by checking every port and by picking at random.
    """
    ceiling = _ephemeral_floor() - size
    for _ in range(500):
        base = random.randrange(_PORT_FLOOR, ceiling) // align * align
        block = range(base, base + size)
        if _handed_out.isdisjoint(block) and all(_bindable(host, p) for p in block):
            _handed_out.update(block)
            return base
    raise RuntimeError(f"no block of {size} free ports on {host}")


def allocate_instance_ports(host: str = "127.0.0.1", rtp_ports: int = 100) -> InstancePorts:
    """SIP (UDP), AMI and HTTP (TCP) ports and an RTP range of one Asterisk."""
    base = allocate_port_block(3, host)
    rtp = allocate_port_block(rtp_ports, host)
    return InstancePorts(
        sip=base, ami=base + 1, http=base + 2, rtp_start=rtp, rtp_end=rtp + rtp_ports - 1
    )


# ---- the instance ----------------------------------------------------------------------


def layout_for(install: Installation, instance_dir: Path) -> InstanceLayout:
    """The layout of an instance kept in ``instance_dir`` (paths identical on both sides)."""
    return InstanceLayout.under(
        instance_dir.resolve(), data_dir=install.data_dir, modules_dir=install.modules_dir
    )


def launch_argv(install: Installation, instance_dir: Path, asterisk_args: list[str]) -> list[str]:
    """The command line that runs Asterisk (pure; see the module docstring)."""
    guard = ["setpriv", "--pdeathsig", "KILL"]
    if isinstance(install, ProvisionedAsterisk):
        return [
            *guard,
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", _CHROOT_SCRIPT, "sh", str(install.root), str(instance_dir),
            "asterisk", *asterisk_args,
        ]  # fmt: skip
    return [*guard, str(install.binary), *asterisk_args]


class AsteriskInstance:
    """An Asterisk process with its configuration rendered from ``settings``.

    Every directory of ``settings.layout`` except the data and modules directories
    must be inside ``instance_dir``.
    """

    def __init__(self, install: Installation, instance_dir: Path, settings: AsteriskSettings):
        self.install = install
        self.instance_dir = instance_dir.resolve()
        self.settings = settings
        layout = settings.layout
        for path in layout.writable_dirs():
            if not path.is_relative_to(self.instance_dir):
                raise ValueError(f"{path} is outside the instance directory {self.instance_dir}")
        self._process: asyncio.subprocess.Process | None = None
        self._frozen = False

    # -- paths (host paths; identical to Asterisk's for everything in instance_dir) --

    @property
    def layout(self) -> InstanceLayout:
        return self.settings.layout

    @property
    def etc_dir(self) -> Path:
        return self.layout.etc

    @property
    def spool_dir(self) -> Path:
        return self.layout.spool

    @property
    def log_file(self) -> Path:
        """Asterisk's "full" log (notice, warning, error, verbose, dtmf)."""
        return self.layout.log / "full"

    @property
    def output_file(self) -> Path:
        return self.instance_dir / OUTPUT_FILE

    @property
    def sounds_dir(self) -> Path:
        """Host path of the installation's sounds (read-only)."""
        return self.install.host_path(self.layout.data_dir / "sounds")

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    # -- life cycle --

    async def start(self, boot_timeout_s: float = 60.0) -> None:
        """Render the configuration, start Asterisk and wait until it is fully booted."""
        if self.running:
            raise RuntimeError("this Asterisk instance is already running")
        for path in self.layout.writable_dirs():
            path.mkdir(parents=True, exist_ok=True)
        write_config(self.settings, self.etc_dir)
        await self._launch(boot_timeout_s)

    async def _launch(self, boot_timeout_s: float) -> None:
        started = time.monotonic()
        args = ["-f", "-n", "-C", str(self.etc_dir / "asterisk.conf")]
        if os.geteuid() == 0:
            # The root's /var/lib/asterisk belongs to a uid that is not root in the
            # chroot; our own directories are root's anyway.
            args += ["-U", "root", "-G", "root"]
        argv = launch_argv(self.install, self.instance_dir, args)
        with self.output_file.open("ab") as output:
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self._frozen = False
        try:
            await asyncio.wait_for(self._wait_fully_booted(), boot_timeout_s)
            self._check_pid_is_asterisk()
            self._check_sip_transport_bound()
        except BaseException as exc:
            await self._kill()
            if isinstance(exc, TimeoutError):
                raise AsteriskStartError(
                    f"Asterisk not fully booted within {boot_timeout_s} s\n{self._diagnostics()}"
                ) from None
            raise
        log.info(
            "asterisk started",
            extra={
                "pid": self._process.pid,
                "instance": str(self.instance_dir),
                "ami_port": self.settings.ami_port,
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    async def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (Asterisk's "core stop now"), SIGKILL after ``grace_s``; reaped."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        if self._frozen:
            self.thaw()
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            log.warning("asterisk ignored SIGTERM; killing it", extra={"pid": process.pid})
            await self._kill()

    async def restart(self, boot_timeout_s: float = 60.0) -> None:
        """Stop and start again with the configuration on disk as it is now (accounts
        written at run time included)."""
        await self.stop()
        await self._launch(boot_timeout_s)

    async def freeze(self) -> None:
        """SIGSTOP: Asterisk stops answering anything (AMI, SIP) but keeps its sockets.

        Returns once every thread is stopped: kill() only queues the signal, and a
        thread already awake could still answer one more request.
        """
        pid = self._require_pid()
        os.kill(pid, signal.SIGSTOP)
        self._frozen = True
        # Nothing to wait on but /proc; a thread in uninterruptible sleep could take a
        # while, so the wait is bounded.
        for _ in range(400):
            if _all_threads_stopped(pid):
                return
            await asyncio.sleep(0.005)
        raise RuntimeError(f"asterisk {pid} did not stop within 2 s of SIGSTOP")

    def thaw(self) -> None:
        os.kill(self._require_pid(), signal.SIGCONT)
        self._frozen = False

    async def cli(self, command: str) -> str:
        """Output of an Asterisk CLI command (``asterisk -rx``) on this instance.

        Bound it with ``asyncio.timeout``; the client process is killed on cancellation.
        """
        args = ["-C", str(self.etc_dir / "asterisk.conf"), "-rx", command]
        if isinstance(self.install, ProvisionedAsterisk):
            argv = ["nsenter", "-t", str(self._require_pid()), "-m", "-r", "-w", "asterisk", *args]
        else:
            argv = [str(self.install.binary), *args]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await process.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"asterisk -rx {command!r} failed: {out.decode(errors='replace')}")
        return out.decode("utf-8", errors="replace")

    # -- internals --

    def _require_pid(self) -> int:
        pid = self.pid
        if pid is None:
            raise RuntimeError("this Asterisk instance is not running")
        return pid

    def _check_pid_is_asterisk(self) -> None:
        exe = os.readlink(f"/proc/{self._require_pid()}/exe")
        if Path(exe).name != "asterisk":
            raise RuntimeError(f"the process started is {exe}, not asterisk")

    def _check_sip_transport_bound(self) -> None:
        # A PJSIP transport that cannot bind its port (taken by someone else) only logs
        # an error and Asterisk boots without SIP.
        host, port = self.settings.bind_address, self.settings.sip_port
        if not _owns_udp_socket(self._require_pid(), host, port):
            raise AsteriskStartError(
                f"Asterisk is up but its SIP transport is not bound to {host}:{port} "
                f"(port taken?)\n{self._diagnostics()}"
            )

    async def _kill(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def _wait_fully_booted(self) -> None:
        """Until an AMI login succeeds and Asterisk says FullyBooted.

        Asterisk sends FullyBooted to a session right after its login when it is
        already booted, and to every session when it finishes booting otherwise.
        """
        process = self._process
        assert process is not None
        while True:
            if process.returncode is not None:
                raise AsteriskStartError(
                    f"Asterisk exited with status {process.returncode} while starting\n"
                    f"{self._diagnostics()}"
                )
            try:
                reader, writer = await asyncio.open_connection(
                    self.settings.bind_address, self.settings.ami_port
                )
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                if await _ami_login_until_booted(reader, writer, self.settings):
                    return
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(0.05)

    def _diagnostics(self) -> str:
        parts = []
        for path in (self.output_file, self.log_file):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-25:]
                parts.append(f"--- {path} (end) ---\n" + "\n".join(tail))
        return "\n".join(parts)


def _all_threads_stopped(pid: int) -> bool:
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(FileNotFoundError):
            # The state follows the parenthesised command name, which may hold spaces.
            if stat.read_text().rpartition(")")[2].split()[0] not in ("T", "t"):
                return False
    return True


def _owns_udp_socket(pid: int, host: str, port: int) -> bool:
    """Whether process ``pid`` holds the UDP socket bound to ``host:port``."""
    # /proc/net/udp shows the address as the kernel's 32-bit value in host byte order.
    address = int.from_bytes(socket.inet_aton(host), sys.byteorder)
    local = f"{address:08X}:{port:04X}"
    inodes = {
        fields[9]
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]
        if (fields := line.split())[1] == local
    }
    owned = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            owned.add(os.readlink(fd))
    return any(f"socket:[{inode}]" in owned for inode in inodes)


async def _ami_login_until_booted(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: AsteriskSettings
) -> bool:
    """True once FullyBooted arrives; False if the connection ends first."""
    try:
        banner = await reader.readline()
        if not banner.startswith(b"Asterisk Call Manager"):
            return False
        writer.write(
            (
                "Action: Login\r\n"
                f"Username: {settings.ami_username}\r\n"
                f"Secret: {settings.ami_secret}\r\n"
                "Events: system\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        while True:
            message = await reader.readuntil(b"\r\n\r\n")
            if message.startswith(b"Response: Error"):
                raise AsteriskStartError(
                    f"AMI refused the login: {message.decode(errors='replace')}"
                )
            if message.startswith(b"Event: FullyBooted"):
                return True
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
