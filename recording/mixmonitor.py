"""The AMI actions that drive MixMonitor on an agent's channel. Pure; no I/O.

Checked on Asterisk 22: on the agent's channel MixMonitor's ``r()`` file gets what
the channel reads (the agent's phone: the agent's voice) and ``t()`` what it writes
to the phone (the customer's voice). With an empty ``File`` no mixed file is
written, only the two legs. ``MixMonitorMute`` keeps writing, silence, so the legs
stay as long as the call and the abandoned-legs rule of recovery still holds.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "RECORDING_VARIABLE",
    "UnsafeLegPath",
    "check_spool",
    "mute_fields",
    "start_fields",
]

# The channel variable that names the recording running on a channel, so a restarted
# server finds it instead of starting a second one.
RECORDING_VARIABLE = "SWITCHBOARD_RECORDING"

# Options are parsed by Asterisk: parentheses end r()/t(), commas and pipes split
# arguments, quotes and backslashes are unescaped, ``$`` starts a variable. Spaces are
# fine (checked on Asterisk 22).
_OPTION_UNSAFE = re.compile(r"""[(),|"'\\$\x00-\x1f]""")


class UnsafeLegPath(ValueError):
    """A leg path that cannot travel inside MixMonitor's options."""


def check_spool(spool_dir: Path) -> Path:
    """The spool directory, refused if its path cannot be given to MixMonitor."""
    if not spool_dir.is_absolute() or _OPTION_UNSAFE.search(str(spool_dir)):
        raise UnsafeLegPath(
            f"recording spool_dir {str(spool_dir)!r} must be an absolute path without quotes, "
            "backslashes, commas, pipes, parentheses, $ or control characters (it is passed "
            "in MixMonitor's options)"
        )
    return spool_dir


def start_fields(channel: str, customer_leg: str, agent_leg: str) -> dict[str, str]:
    """``MixMonitor`` on the agent's channel: agent's voice to ``agent_leg``, the
    customer's to ``customer_leg``, no mixed file."""
    for leg in (customer_leg, agent_leg):
        if _OPTION_UNSAFE.search(leg):
            raise UnsafeLegPath(f"leg path {leg!r} cannot be passed to MixMonitor")
    return {"Channel": channel, "File": "", "Options": f"r({agent_leg})t({customer_leg})"}


def mute_fields(channel: str, muted: bool, side: str = "both") -> dict[str, str]:
    """``MixMonitorMute`` of both directions (pause or resume the recording), or of
    one side: ``"customer"`` (what the agent's phone is sent) or ``"agent"``."""
    direction = {"both": "both", "customer": "write", "agent": "read"}[side]
    return {"Channel": channel, "Direction": direction, "State": "1" if muted else "0"}
