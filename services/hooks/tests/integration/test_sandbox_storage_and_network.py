"""Storage and network grants at run time, on the real sandbox and a real loopback receiver.

storage:write keeps data across events (and across worker replacements) within its quota;
storage:read gets the same folder read-only; network:outbound opens inet sockets, and loopback
targets only when the operator's allow_loopback says so.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opscenter.hooks.sandbox import STORAGE_PATH, SandboxPool
from opscenter.hooks.sandbox.testing import (
    handler_spec,
    open_pool,
    uid_base_for_tests,
    write_package,
)

UID_BASE = uid_base_for_tests(100)

HANDLERS = textwrap.dedent(
    """
    import os, socket

    def count(event, context):
        os.makedirs(context["storage"], exist_ok=True)
        path = os.path.join(context["storage"], "counter")
        n = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as f:
            f.write(str(n + 1))
        return n + 1

    def write_bytes(event, context):
        with open(os.path.join(context["storage"], event["data"]["name"]), "wb") as f:
            f.write(b"x" * event["data"]["size"])
        return event["data"]["size"]

    def write_then_spin(event, context):
        with open(os.path.join(context["storage"], "half"), "w") as f:
            f.write("never persisted")
        while True:
            pass

    def plant_symlink(event, context):
        os.symlink("/etc/shadow", os.path.join(context["storage"], "stolen"))
        return "planted"

    def listing(event, context):
        return sorted(os.listdir(context["storage"]))

    def udp(event, context):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"ping", (event["data"]["host"], event["data"]["port"]))
        return "sent"

    def native(event, context):
        import ctypes
        return "loaded"

    def fetch(event, context):
        with socket.create_connection((event["data"]["host"], event["data"]["port"]), 5) as s:
            s.sendall(b"GET /hook HTTP/1.0\\r\\nHost: receiver\\r\\n\\r\\n")
            return s.recv(4096).decode().split("\\r\\n")[0]
    """
)


def event(**data: object) -> dict[str, object]:
    return {"id": "e", "type": "schedule.tick", "time": "2026-12-02T00:00:00Z", "tenant_id": "t",
            "data": data}  # fmt: skip


CONTEXT = {"storage": STORAGE_PATH}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_package(
        tmp_path_factory.mktemp("storage-packages"), "keeper", {"handlers.py": HANDLERS}
    )


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    settings = {"uid_count": 16, "max_pools": 8, "max_events_per_worker": 2, "deadline_s": 5}
    async with open_pool(uid_base=UID_BASE, **settings) as sandbox:
        yield sandbox


async def test_storage_write_keeps_data_across_events_and_workers(pool, package, tmp_path):
    writer = handler_spec(package, "count", storage_dir=tmp_path / "inst-1", storage_writable=True,
                  storage_quota_bytes=64 * 1024)  # fmt: skip

    counts = [(await pool.call(writer, event(), CONTEXT)).result for _ in range(5)]

    assert counts == [1, 2, 3, 4, 5]  # across two worker replacements (2 events per worker)
    assert pool.stats()["recycled"] >= 2
    assert (tmp_path / "inst-1" / "counter").read_text() == "5"


async def test_two_dispatchers_sharing_a_folder_each_see_the_others_writes(package, tmp_path):
    """Two pools (two dispatchers) take turns on one installation's folder, as its storage lane
    makes them: a warm worker seeded before the other's write is replaced, so no write is lost."""
    writer = handler_spec(package, "count", storage_dir=tmp_path / "shared", storage_writable=True,
                  storage_quota_bytes=4096)  # fmt: skip
    warm = {"uid_count": 4, "max_pools": 1, "workers_per_pool": 1, "max_events_per_worker": 100,
            "deadline_s": 5}  # fmt: skip
    async with (
        open_pool(uid_base=UID_BASE + 20, **warm) as first,
        open_pool(uid_base=UID_BASE + 30, **warm) as second,
    ):
        counts = [(await p.call(writer, event(), CONTEXT)).result for p in [first, second] * 3]

        assert counts == [1, 2, 3, 4, 5, 6]
        assert first.stats()["storage_reseeds"] == 2  # before its 2nd and 3rd events
        assert second.stats()["storage_reseeds"] == 2
    assert (tmp_path / "shared" / "counter").read_text() == "6"


async def test_installations_of_one_version_keep_separate_folders(pool, package, tmp_path):
    first = handler_spec(package, "count", storage_dir=tmp_path / "a", storage_writable=True,
                 storage_quota_bytes=4096)  # fmt: skip
    second = handler_spec(package, "count", storage_dir=tmp_path / "b", storage_writable=True,
                  storage_quota_bytes=4096)  # fmt: skip

    results = [(await pool.call(s, event(), CONTEXT)).result for s in (first, first, second)]

    assert results == [1, 2, 1]


async def test_storage_read_cannot_write_its_folder(pool, package, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o755)
    (folder / "counter").write_text("41")
    reader = handler_spec(package, "count", storage_dir=folder, storage_writable=False)

    outcome = await pool.call(reader, event(), CONTEXT)

    assert (outcome.ok, outcome.cause) == (False, "refused")
    assert "Read-only file system" in str(outcome.error)
    assert (folder / "counter").read_text() == "41"


async def test_without_a_storage_grant_there_is_no_folder(pool, package):
    outcome = await pool.call(handler_spec(package, "count"), event(), CONTEXT)

    assert (outcome.ok, outcome.cause) == (False, "refused")


async def test_writes_past_the_quota_are_refused_and_not_persisted(pool, package, tmp_path):
    folder = tmp_path / "quota"
    writer = handler_spec(package, "write_bytes", storage_dir=folder, storage_writable=True,
                  storage_quota_bytes=64 * 1024)  # fmt: skip

    small = await pool.call(writer, event(name="small", size=16 * 1024), CONTEXT)
    large = await pool.call(writer, event(name="large", size=80 * 1024), CONTEXT)

    assert small.ok
    assert (large.ok, large.cause) == (False, "refused")
    assert "quota" in str(large.error)
    assert (folder / "small").stat().st_size == 16 * 1024
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 64 * 1024


async def test_a_planted_symlink_is_never_followed_by_the_supervisor(pool, package, tmp_path):
    folder = tmp_path / "hostile"
    writer = handler_spec(package, "plant_symlink", storage_dir=folder, storage_writable=True,
                  storage_quota_bytes=4096)  # fmt: skip

    outcome = await pool.call(writer, event(), CONTEXT)

    assert outcome.ok
    assert list(folder.iterdir()) == []


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A real HTTP receiver on loopback; records each request line."""
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        writer.write(b"HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, seen
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1", "127.1.2.3"])
async def test_a_granted_handler_cannot_reach_loopback_by_default(pool, package, receiver, host):
    port, seen = receiver

    outcome = await pool.call(
        handler_spec(package, "fetch", network=True), event(host=host, port=port), {}
    )

    assert (outcome.ok, outcome.cause) == (False, "refused"), outcome
    assert "loopback" in str(outcome.error)
    assert seen == []


async def test_a_granted_handler_reaches_loopback_when_the_operator_allows(package, receiver):
    port, seen = receiver
    async with open_pool(
        uid_base=UID_BASE + 16, uid_count=8, max_pools=2, allow_loopback=True
    ) as sandbox:
        granted = await sandbox.call(
            handler_spec(package, "fetch", network=True), event(host="127.0.0.1", port=port), {}
        )
        ungranted = await sandbox.call(
            handler_spec(package, "fetch", network=False), event(host="127.0.0.1", port=port), {}
        )

    assert granted.ok, granted
    assert granted.result == "HTTP/1.0 204 No Content"
    assert seen == [b"GET /hook HTTP/1.0\r\n"]
    assert (ungranted.ok, ungranted.cause) == (False, "refused")


async def test_udp_to_loopback_is_refused_too(pool, package, receiver):
    port, _ = receiver

    outcome = await pool.call(
        handler_spec(package, "udp", network=True), event(host="127.0.0.1", port=port), {}
    )

    assert (outcome.ok, outcome.cause) == (False, "refused"), outcome


async def test_native_code_by_ctypes_is_refused_while_loopback_is_guarded(pool, package):
    guarded = await pool.call(handler_spec(package, "native", network=True), event(), {})
    isolated = await pool.call(handler_spec(package, "native", network=False), event(), {})

    assert (guarded.ok, guarded.cause) == (False, "refused"), guarded
    assert "ctypes.dlopen" in str(guarded.error)
    assert isolated.ok  # without the network grant seccomp alone keeps it off the network


async def test_a_killed_events_writes_are_dropped_and_earlier_ones_kept(pool, package, tmp_path):
    folder = tmp_path / "killed"
    storage = {"storage_dir": folder, "storage_writable": True, "storage_quota_bytes": 65536}
    counted = await pool.call(handler_spec(package, "count", **storage), event(), CONTEXT)

    killed = await pool.call(
        handler_spec(package, "write_then_spin", **storage), event(), CONTEXT, deadline_s=1.0
    )
    after = await pool.call(handler_spec(package, "count", **storage), event(), CONTEXT)

    assert (counted.result, killed.cause, after.result) == (1, "timeout", 2), killed
    assert sorted(p.name for p in folder.iterdir()) == ["counter"]
