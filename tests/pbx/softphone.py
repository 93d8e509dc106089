"""A baresip softphone driven over its ctrl_tcp module (netstring-framed JSON).

One baresip process per agent, registered to the test Asterisk, ``answermode=manual``
so a call rings until the test accepts or rejects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from asterisk_conf.instance import allocate_port_block

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"


class Softphone:
    def __init__(self, name: str, secret: str, sip_port: int, workdir: Path, audio: Path) -> None:
        self.name = name
        self._secret = secret
        self._sip_port = sip_port
        self._dir = workdir / f"baresip-{name}"
        self._audio = audio
        self._process: asyncio.subprocess.Process | None = None
        self._events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        # baresip binds its SIP port and the next one: take a block.
        local = allocate_port_block(10)
        self._ctrl_port = allocate_port_block(2)
        (self._dir / "config").write_text(
            f"poll_method epoll\n"
            f"sip_listen 127.0.0.1:{local}\n"
            "module_path /usr/lib/baresip/modules\n"
            "module g711.so\nmodule aufile.so\n"
            "module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self._ctrl_port}\n"
            f"audio_source aufile,{self._audio}\n"
            f"audio_player aufile,{self._dir / 'heard.wav'}\n"
            f"audio_alert aufile,{self._audio}\n"
            f"rtp_ports {local + 2}-{local + 9}\n"
        )
        (self._dir / "accounts").write_text(
            f"<sip:{self.name}@127.0.0.1:{self._sip_port};transport=udp>"
            f";auth_pass={self._secret};answermode=manual;regint=600\n"
        )
        log = (self._dir / "baresip.log").open("ab")
        self._process = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(self._dir), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        async with asyncio.timeout(10):
            while True:
                try:
                    reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self._ctrl_port
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.1)
        self._reader_task = asyncio.create_task(self._read(reader))

    async def stop(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            head = await reader.readuntil(b":")
            body = await reader.readexactly(int(head[:-1]) + 1)
            message = json.loads(body[:-1])
            if message.get("event"):
                self._events.append(message)
                self._changed.set()

    async def command(self, command: str, params: str = "") -> None:
        assert self._writer is not None
        data = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(b"%d:%s," % (len(data), data))
        await self._writer.drain()

    async def wait_event(self, kind: str, within: float = 15) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                for event in self._events:
                    if event.get("type") == kind:
                        self._events.remove(event)
                        return event
                self._changed.clear()
                await self._changed.wait()

    def forget_events(self) -> None:
        self._events.clear()

    async def dial(self, number: str) -> None:
        await self.command("dial", f"sip:{number}@127.0.0.1:{self._sip_port}")

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def transfer(self, number: str) -> None:
        await self.command("transfer", number)
