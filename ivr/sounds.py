"""Whether Asterisk has a sound file by a name, asked of Asterisk itself over AMI (its
sounds directory may be in a chroot or on another machine)."""

from __future__ import annotations

import re

from pbx.ami.client import AmiClient, AmiError, AmiNotConnected

_NAME = re.compile(r"^[A-Za-z0-9_/-]{1,128}$")


class SoundsUnknown(Exception):
    """Asterisk cannot be asked right now."""


class AsteriskSounds:
    def __init__(self, ami: AmiClient) -> None:
        self._ami = ami
        # Sounds come with the installation: once seen, a sound stays.
        self._known: set[str] = set()

    async def exists(self, name: str) -> bool:
        if name in self._known:
            return True
        if not _NAME.match(name) or ".." in name:
            return False
        try:
            answer = await self._ami.send_action("Command", {"Command": f"core show sound {name}"})
        except (AmiNotConnected, TimeoutError) as exc:
            raise SoundsUnknown(str(exc)) from None
        except AmiError:
            return False
        found = any(line.strip().startswith("Language ") for line in answer.output)
        if found:
            self._known.add(name)
        return found
