"""``switchboard pbx capture|replay``: record a live AMI stream, replay a recording."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.config import Config

from .ami.codec import AmiProtocolError


def register_cli(subparsers: Any, load_config: Callable[[argparse.Namespace], Config]) -> None:
    """Add the ``pbx`` command group to the ``switchboard`` parser."""
    pbx = subparsers.add_parser("pbx", help="Asterisk (AMI) tools").add_subparsers(
        dest="pbx", required=True
    )
    cap = pbx.add_parser("capture", help="record the raw AMI stream of a live Asterisk")
    cap.add_argument("file", type=Path)
    cap.add_argument("--duration", type=float, default=None, help="seconds (default: until ^C)")
    cap.set_defaults(func=lambda args: _capture(args, load_config(args)))
    rep = pbx.add_parser("replay", help="print the calls of a capture, one JSON line per call")
    rep.add_argument("file", type=Path)
    rep.set_defaults(func=_replay)


def _capture(args: argparse.Namespace, config: Config) -> int:
    from .capture import capture

    written = asyncio.run(capture(config.ami, args.file, duration=args.duration))
    print(f"captured {written} bytes to {args.file}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .capture import replay

    try:
        for call in replay(args.file):
            sys.stdout.write(json.dumps(call, ensure_ascii=False) + "\n")
    except FileNotFoundError:
        print(f"switchboard: {args.file}: no such file", file=sys.stderr)
        return 2
    except AmiProtocolError as exc:
        print(f"switchboard: {args.file}: {exc}", file=sys.stderr)
        return 2
    return 0
