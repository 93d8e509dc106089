"""Call controls over AMI: hang up, blind transfer, click-to-call (the agent's phone
first). The agent's live channels are Asterisk's word (``CoreShowChannels``), found by
the agent's PJSIP endpoint."""

from __future__ import annotations

import logging
import re

from pbx.ami.client import AmiClient, AmiError, AmiNotConnected, AmiResponse

from .config import WorkspaceConfig

log = logging.getLogger("workspace.calls")

NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_UP = "6"


class CallControlError(Exception):
    """Asterisk refused, or is out of reach."""


class NoCall(CallControlError):
    """The agent has no call this can act on."""


class OutsideNumbersOff(CallControlError):
    """No way to outside numbers is configured (no carrier, no outbound context)."""


class CallControls:
    def __init__(self, ami: AmiClient, config: WorkspaceConfig) -> None:
        self._ami = ami
        self._config = config

    async def channels(self, endpoint: str) -> list[dict[str, str]]:
        """The live channels of the endpoint's phone: name, state, bridge."""
        answer = await self._action("CoreShowChannels", {})
        prefix = f"PJSIP/{endpoint}-"
        return [
            {
                "channel": e.get("Channel", ""),
                "state": e.get("ChannelState", ""),
                "bridge": e.get("BridgeId", "") or "",
                "call_id": e.get("Linkedid", ""),
            }
            for e in answer.events
            if e.get("Event") == "CoreShowChannel" and e.get("Channel", "").startswith(prefix)
        ]

    async def hang_up(self, endpoint: str) -> list[str]:
        channels = [c["channel"] for c in await self.channels(endpoint)]
        if not channels:
            raise NoCall("no call on your phone")
        for channel in channels:
            await self._action("Hangup", {"Channel": channel, "Cause": "16"})
        log.info("hung up endpoint=%s channels=%s", endpoint, ",".join(channels))
        return channels

    async def transfer(
        self, endpoint: str, *, agent_endpoint: str | None = None, number: str | None = None
    ) -> str:
        """Send whoever the agent talks to elsewhere; the agent's leg ends."""
        if agent_endpoint is not None:
            context, exten = self._config.agents_context, agent_endpoint
        else:
            assert number is not None
            if not self._config.outbound_context:
                raise OutsideNumbersOff(
                    "no carrier for outside numbers: configure [trunk] (or [workspace] "
                    "outbound_context)"
                )
            context, exten = self._config.outbound_context, number.lstrip("+")
        talking = [c for c in await self.channels(endpoint) if c["state"] == _UP and c["bridge"]]
        if not talking:
            raise NoCall("no answered call on your phone")
        channel = talking[0]["channel"]
        await self._action(
            "BlindTransfer", {"Channel": channel, "Context": context, "Exten": exten}
        )
        log.info("blind transfer endpoint=%s to=%s@%s", endpoint, exten, context)
        return channel

    async def dial(
        self, endpoint: str, *, agent_endpoint: str | None = None, number: str | None = None
    ) -> None:
        """Ring the agent's phone; once answered, it calls the agent or number."""
        if agent_endpoint is not None:
            target, shown = f"PJSIP/{agent_endpoint}", agent_endpoint
        else:
            assert number is not None
            target = self._config.dial_template.format(number=number, digits=number.lstrip("+"))
            shown = number
        ring_s = self._config.click_to_call_ring_s
        await self._action(
            "Originate",
            {
                "Channel": f"PJSIP/{endpoint}",
                "Application": "Dial",
                "Data": f"{target},{ring_s}",
                "Timeout": str(ring_s * 1000),
                # The agent's phone shows whom it is about to call.
                "CallerID": f'"{shown}" <{shown}>',
                "Async": "true",
            },
        )
        log.info("click-to-call endpoint=%s target=%s", endpoint, target)

    async def _action(self, name: str, fields: dict[str, str]) -> AmiResponse:
        try:
            return await self._ami.send_action(name, fields)
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            raise CallControlError(f"Asterisk did not do it: {exc}") from exc
