"""The local directory store: put, ranged reads, delete, and keys kept inside the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.storage import LocalDirectoryStore, NotStored, UnsafeKey, check_key


async def read_all(
    store: LocalDirectoryStore, key: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in store.read_range(key, start, end)])


async def test_put_read_ranges_and_delete(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "store")
    source = tmp_path / "source.ogg"
    payload = bytes(range(256)) * 1000
    source.write_bytes(payload)
    assert await store.put("2026/11/22/1.ogg", source) == len(payload)
    assert await store.exists("2026/11/22/1.ogg")
    assert await store.size("2026/11/22/1.ogg") == len(payload)
    assert await read_all(store, "2026/11/22/1.ogg") == payload
    assert await read_all(store, "2026/11/22/1.ogg", 100, 70_000) == payload[100:70_000]
    assert await read_all(store, "2026/11/22/1.ogg", len(payload) - 5) == payload[-5:]
    assert await read_all(store, "2026/11/22/1.ogg", 10, 10) == b""
    async with store.local_path("2026/11/22/1.ogg") as path:
        assert path.read_bytes() == payload
    assert list((tmp_path / "store/2026/11/22").iterdir()) == [
        tmp_path / "store/2026/11/22/1.ogg"
    ], "no partial file left behind"
    assert await store.delete("2026/11/22/1.ogg") is True
    assert await store.delete("2026/11/22/1.ogg") is False
    assert not await store.exists("2026/11/22/1.ogg")


async def test_missing_objects_raise_not_stored(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    with pytest.raises(NotStored):
        await store.size("a.ogg")
    with pytest.raises(NotStored):
        await read_all(store, "a.ogg")
    with pytest.raises(NotStored):
        async with store.local_path("a.ogg"):
            pass


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../outside", "a/../../b", "a//b", "./a", "a\\b", "a\x00b"]
)
def test_keys_that_could_leave_the_root_are_refused(key: str) -> None:
    with pytest.raises(UnsafeKey):
        check_key(key)


async def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "x.ogg").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path / "secret")
    store = LocalDirectoryStore(root)
    with pytest.raises(UnsafeKey):
        await store.exists("link/x.ogg")
    with pytest.raises(UnsafeKey):
        await store.delete("link/x.ogg")
    assert (tmp_path / "secret" / "x.ogg").exists()
