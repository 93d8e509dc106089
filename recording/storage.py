"""Where converted recordings live, behind one small interface.

Keys are relative POSIX paths chosen by us (``2026/11/22/42.ogg``). The local
directory store is the one adapter today; an S3-compatible store is a later one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Protocol

__all__ = ["LocalDirectoryStore", "NotStored", "RecordingStore", "UnsafeKey", "check_key"]

_CHUNK = 1 << 16


class UnsafeKey(ValueError):
    """A key that is not a plain relative path inside the store."""


class NotStored(LookupError):
    """No object under that key."""


class RecordingStore(Protocol):
    async def put(self, key: str, source: Path) -> int:
        """Store a copy of a local file under ``key`` (replacing any); returns its size."""
        ...

    async def size(self, key: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start`` up to (not including) ``end`` — the whole object by default."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the object; False if there was none."""
        ...

    def local_path(self, key: str) -> AbstractAsyncContextManager[Path]:
        """The object as a local file for the duration of the block (for ffmpeg)."""
        ...


def check_key(key: str) -> PurePosixPath:
    """A key as a path, refused unless it is relative and free of ``.``/``..`` parts."""
    if not key or "\\" in key or "\x00" in key:
        raise UnsafeKey(f"unsafe storage key {key!r}")
    path = PurePosixPath(key)
    if path.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeKey(f"unsafe storage key {key!r}")
    return path


class LocalDirectoryStore:
    """Objects as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).parts)
        # A symlink inside the root could still point out of it.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise UnsafeKey(f"storage key {key!r} leads outside the store")
        return path

    async def put(self, key: str, source: Path) -> int:
        return await asyncio.to_thread(self._put, self._path(key), source)

    @staticmethod
    def _put(target: Path, source: Path) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy beside the target, then rename: a crash never leaves half a file
        # under the final name.
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            shutil.copyfile(source, partial)
            with partial.open("rb") as f:
                os.fsync(f.fileno())
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target.stat().st_size

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise NotStored(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def read_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotStored(key) from None
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else max(end - start, 0)
            while left is None or left > 0:
                chunk = await asyncio.to_thread(
                    f.read, _CHUNK if left is None else min(_CHUNK, left)
                )
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(f.close)

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    @asynccontextmanager
    async def local_path(self, key: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not await asyncio.to_thread(path.is_file):
            raise NotStored(key)
        yield path
