"""The sandbox on the real bubblewrap, seccomp and kernel limits: each hostile handler is stopped
or refused with its cause, and a second pool keeps answering meanwhile.

These tests run as root (as CI does): workers then run as their slot's uid. Each checkout's
run uses its own uid range (from STACK_PORT_OFFSET), so parallel runs never share a uid's
process budget.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opscenter.hooks.sandbox import HandlerOutcome, SandboxPool, SandboxSettings
from opscenter.hooks.sandbox.testing import (
    handler_spec,
    open_pool,
    uid_base_for_tests,
    write_package,
)

UID_BASE = uid_base_for_tests(0)
PARENT_SECRET = "parent-secret-7f3a"

HOSTILE = textwrap.dedent(
    """
    import os, socket

    def echo(event, context):
        return {"event": event, "context": context, "uid": os.getuid()}

    def environment(event, context):
        return {"env": dict(os.environ), "root": sorted(os.listdir("/")),
                "plugin": sorted(os.listdir("/plugin")), "pids": sorted(os.listdir("/proc"))}

    def init_environ(event, context):
        with open("/proc/1/environ", "rb") as f:
            return f.read().decode(errors="replace")

    def allocate(event, context):
        return len(bytearray(2 * 1024 ** 3))

    def spin(event, context):
        while True:
            pass

    def fork_bomb(event, context):
        while True:
            os.fork()

    def inet(event, context):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def inet6(event, context):
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)

    def unix(event, context):
        a, b = socket.socketpair()
        a.sendall(b"x")
        return b.recv(1).decode()

    def read_file(event, context):
        with open(event["data"]["path"]) as f:
            return f.read()

    def write_file(event, context):
        with open(event["data"]["path"], "w") as f:
            f.write("written")
        return "written"

    def execute(event, context):
        os.execv("/usr/bin/python3.11", ["python3", "-c", "pass"])

    HELD = []

    def hoard(event, context):
        HELD.append(bytearray(96 * 1024 * 1024))  # kept after the event: the worker grows
        return len(HELD)

    def nap(event, context):
        import time
        time.sleep(0.5)
        return os.getuid()

    def fail(event, context):
        raise ValueError("bad input")

    def crash(event, context):
        os._exit(3)

    async def later(event, context):
        import asyncio
        await asyncio.sleep(0.01)
        return "awaited"

    def not_json(event, context):
        return {1, 2}
    """
)


def event(data: dict[str, object] | None = None) -> dict[str, object]:
    return {"id": "e1", "type": "device.created", "time": "2026-12-02T00:00:00Z",
            "tenant_id": "t1", "data": data or {}}  # fmt: skip


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packages")
    return {
        "hostile": write_package(root, "hostile", {"handlers.py": HOSTILE}),
        "other": write_package(
            root, "other", {"handlers.py": HOSTILE, "secret.txt": "other-secret"}
        ),
    }


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    os.environ["OPSCENTER_TEST_PARENT_SECRET"] = PARENT_SECRET
    sandbox = SandboxPool(
        SandboxSettings(uid_base=UID_BASE, uid_count=64, max_pools=16, deadline_s=3.0, nproc=16)
    )
    await sandbox.start()
    yield sandbox
    await sandbox.close()
    os.environ.pop("OPSCENTER_TEST_PARENT_SECRET", None)


async def test_warm_worker_runs_as_its_slot_uid_and_answers(pool: SandboxPool, packages):
    spec = handler_spec(packages["hostile"], "echo")
    first = await pool.call(spec, event({"n": 1}), {"installation_id": "i1"})
    spawns = pool.stats()["spawns"]
    second = await pool.call(spec, event({"n": 2}), {"installation_id": "i1"})

    assert first.ok
    assert first.cause == "ok"
    assert first.error is None
    assert second.result == {"event": event({"n": 2}), "context": {"installation_id": "i1"},
                             "uid": second.result["uid"]}  # fmt: skip
    assert UID_BASE <= second.result["uid"] < UID_BASE + 64
    assert pool.stats()["spawns"] == spawns  # the second call used the warm worker


async def test_the_view_holds_only_the_plugin_and_the_interpreter(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "environment"), event(), {})

    assert outcome.ok, outcome
    env = outcome.result["env"]
    assert PARENT_SECRET not in str(env)
    assert "PATH" not in env
    assert "HOME" not in env
    assert outcome.result["root"] == ["dev", "etc", "lib", "lib64", "plugin", "proc", "sandbox",
                                      "tmp", "usr"]  # fmt: skip
    assert outcome.result["plugin"] == ["handlers.py"]
    numeric = [p for p in outcome.result["pids"] if p.isdigit()]
    assert len(numeric) <= 3  # its own pid namespace: init, the worker, the lister


async def test_proc_1_environ_shows_nothing_of_the_parent(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "init_environ"), event(), {})

    assert not outcome.ok
    assert outcome.cause == "refused"
    assert PARENT_SECRET not in str(outcome)


async def test_allocating_2_gb_is_stopped_as_memory(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "allocate"), event(), {})

    assert (outcome.ok, outcome.cause) == (False, "memory"), outcome
    assert pool.stats()["kills_memory"] >= 1


async def test_an_endless_loop_is_killed_at_the_deadline_and_replaced(pool: SandboxPool, packages):
    spin = handler_spec(packages["hostile"], "spin")
    kills = pool.stats().get("kills_timeout", 0)

    outcome = await pool.call(spin, event(), {}, deadline_s=1.0)

    assert not outcome.ok
    assert outcome.cause == "timeout"
    assert outcome.error == "no answer within 1 s"
    assert 1000 <= outcome.latency_ms < 2000
    assert pool.stats()["kills_timeout"] == kills + 1
    echo = await pool.call(handler_spec(packages["hostile"], "echo"), event(), {})
    assert echo.ok


async def test_a_fork_bomb_is_stopped_as_pids_and_leaves_no_process(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "fork_bomb"), event(), {})

    assert (outcome.ok, outcome.cause) == (False, "pids"), outcome
    assert await _at_most_one_process_per_worker(pool)
    again = await pool.call(handler_spec(packages["hostile"], "echo"), event(), {})
    assert again.ok


@pytest.mark.parametrize("function", ["inet", "inet6"])
async def test_inet_sockets_without_the_grant_are_refused(pool: SandboxPool, packages, function):
    outcome = await pool.call(handler_spec(packages["hostile"], function), event(), {})

    assert not outcome.ok
    assert outcome.cause == "refused"
    assert outcome.error == "PermissionError: [Errno 13] Permission denied"


async def test_unix_sockets_still_work(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "unix"), event(), {})

    assert outcome.ok
    assert outcome.result == "x"


async def test_another_plugins_files_are_not_in_the_view(pool: SandboxPool, packages):
    """Host paths do not exist in the sandbox: an honest FileNotFoundError ("exception")."""
    secret = packages["other"] / "secret.txt"
    spec = handler_spec(packages["hostile"], "read_file")

    by_host_path = await pool.call(spec, event({"path": str(secret)}), {})
    by_proc = await pool.call(spec, event({"path": "/proc/1/root/plugin/secret.txt"}), {})

    assert not by_host_path.ok
    assert by_host_path.cause == "exception"
    assert by_host_path.error is not None
    assert by_host_path.error.startswith("FileNotFoundError")
    assert (by_proc.ok, by_proc.cause) == (False, "refused")  # pid 1 is root's bwrap init
    assert "other-secret" not in str(by_host_path) + str(by_proc)


@pytest.mark.parametrize("path", ["/plugin/handlers.py", "/etc/passwd", "/usr/x", "/new-file"])
async def test_writing_outside_the_tmpfs_is_refused(pool: SandboxPool, packages, path):
    outcome = await pool.call(
        handler_spec(packages["hostile"], "write_file"), event({"path": path}), {}
    )

    assert (outcome.ok, outcome.cause) == (False, "refused"), outcome
    assert "handlers.py" in os.listdir(packages["hostile"])
    assert (packages["hostile"] / "handlers.py").read_text() == HOSTILE


async def test_the_private_tmpfs_is_writable(pool: SandboxPool, packages):
    spec = handler_spec(packages["hostile"], "write_file")

    outcome = await pool.call(spec, event({"path": "/tmp/scratch"}), {})

    assert outcome.ok
    assert outcome.result == "written"


async def test_starting_programs_is_refused(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "execute"), event(), {})

    assert not outcome.ok
    assert outcome.cause == "refused"


async def test_exceptions_keep_the_worker_and_carry_no_traceback(pool: SandboxPool, packages):
    spec = handler_spec(packages["hostile"], "fail")
    await pool.call(spec, event(), {})
    spawns = pool.stats()["spawns"]

    outcome = await pool.call(spec, event(), {})

    expected = HandlerOutcome(False, "exception", None, "ValueError: bad input", outcome.latency_ms)
    assert outcome == expected
    assert pool.stats()["spawns"] == spawns


async def test_a_worker_that_exits_is_recorded_as_crashed(pool: SandboxPool, packages):
    outcome = await pool.call(handler_spec(packages["hostile"], "crash"), event(), {})

    assert not outcome.ok
    assert outcome.cause == "crashed"
    assert outcome.error == "the worker died (exit status 3)"


async def test_async_handlers_and_bad_results(pool: SandboxPool, packages):
    awaited = await pool.call(handler_spec(packages["hostile"], "later"), event(), {})
    not_json = await pool.call(handler_spec(packages["hostile"], "not_json"), event(), {})

    assert awaited.ok
    assert awaited.result == "awaited"
    assert not not_json.ok
    assert not_json.cause == "exception"
    assert not_json.error == "TypeError: Object of type set is not JSON serializable"


async def test_an_entrypoint_that_does_not_import_is_an_exception(pool: SandboxPool, packages):
    missing = await pool.call(handler_spec(packages["hostile"], "missing"), event(), {})
    no_module = await pool.call(
        handler_spec(packages["hostile"], "x", entrypoint="nope:f"), event(), {}
    )

    assert (missing.ok, missing.cause) == (False, "exception")
    assert missing.error == "AttributeError: module 'handlers' has no attribute 'missing'"
    assert (no_module.ok, no_module.error) == (False, "ModuleNotFoundError: No module named 'nope'")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"entrypoint": "handlers"}, "is not 'module:function'"),
        ({"entrypoint": "os;rm:x"}, "is not 'module:function'"),
        ({"package_dir": Path("relative")}, "is not an existing absolute folder"),
        ({"storage_dir": Path("relative")}, "is not absolute"),
        ({"storage_quota_bytes": -1}, "must not be negative"),
    ],
)
async def test_a_bad_spec_is_a_programming_error(pool: SandboxPool, packages, overrides, message):
    spec = handler_spec(packages["hostile"], "echo", **overrides)

    with pytest.raises(ValueError, match=message):
        await pool.call(spec, event(), {})


async def test_a_second_pool_keeps_answering_while_the_first_misbehaves(
    pool: SandboxPool, packages
):
    hostile = packages["hostile"]
    storms = [
        pool.call(handler_spec(hostile, "spin"), event(), {}, deadline_s=2.0),
        pool.call(handler_spec(hostile, "fork_bomb"), event(), {}),
        pool.call(handler_spec(hostile, "allocate"), event(), {}),
    ]
    storm = asyncio.gather(*storms)
    calm = handler_spec(packages["other"], "echo")
    answers = []
    while not storm.done():
        answers.append(await pool.call(calm, event({"n": len(answers)}), {}))

    causes = sorted(o.cause for o in await storm)
    assert causes == ["memory", "pids", "timeout"]
    assert len(answers) >= 10
    assert all(a.ok for a in answers)
    assert [a.result["event"]["data"]["n"] for a in answers] == list(range(len(answers)))


async def test_workers_are_recycled_after_n_events_without_a_cold_call(packages):
    uids = []
    settings = {"uid_count": 8, "max_pools": 4, "max_events_per_worker": 3}
    async with open_pool(uid_base=UID_BASE + 64, **settings) as sandbox:
        for _ in range(12):
            outcome = await sandbox.call(handler_spec(packages["hostile"], "echo"), event(), {})
            uids.append(outcome.result["uid"])
            await asyncio.sleep(0.1)  # room for a successor to start (it never blocks a call)
        stats = sandbox.stats()
    runs = [len(list(group)) for _, group in itertools.groupby(uids)]
    assert len(runs) >= 2, uids  # a new worker (another slot uid) took over
    assert all(run >= 3 for run in runs[:-1]), uids  # each served its N events first
    assert stats["recycled"] >= len(runs) - 1
    assert stats.get("respawns", 0) == 0  # successors were started ahead, not after a kill


async def test_one_worker_serves_every_handler_of_its_version(pool: SandboxPool, packages):
    before = pool.stats()["spawns"]
    await pool.call(handler_spec(packages["other"], "echo"), event(), {})
    await pool.call(handler_spec(packages["other"], "unix"), event(), {})
    await pool.call(handler_spec(packages["other"], "later"), event(), {})

    assert pool.stats()["spawns"] - before <= 1


async def test_the_lifetime_cpu_budget_kills_as_cpu(packages):
    settings = {"uid_count": 8, "max_pools": 4, "cpu_s": 1, "deadline_s": 20}
    async with open_pool(uid_base=UID_BASE + 72, **settings) as sandbox:
        outcome = await sandbox.call(handler_spec(packages["hostile"], "spin"), event(), {})
    assert (outcome.ok, outcome.cause) == (False, "cpu"), outcome


def _processes_of_uids(uids: range) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids:
                    count += 1
            except FileNotFoundError:
                continue
    return count


async def _at_most_one_process_per_worker(pool: SandboxPool) -> bool:
    """Each live worker has one process of its uid (the interpreter); the bomb's are gone."""
    for _ in range(50):
        if _processes_of_uids(range(UID_BASE, UID_BASE + 64)) <= pool.stats()["workers"]:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_the_least_recently_used_pool_is_closed_past_max_pools(tmp_path):
    async with open_pool(uid_base=UID_BASE + 80, uid_count=8, max_pools=2) as sandbox:
        for n in range(4):
            package = write_package(tmp_path, f"plugin-{n}", {"handlers.py": HOSTILE})
            assert (await sandbox.call(handler_spec(package, "echo"), event(), {})).ok
        await asyncio.sleep(0.5)  # the evicted pools' workers are killed in the background
        stats = sandbox.stats()
        alive = _processes_of_uids(range(UID_BASE + 80, UID_BASE + 88))
    assert (stats["pools"], stats["pools_evicted"], stats["workers"]) == (2, 2, 2)
    assert alive == 2
    assert await _no_process_left(range(UID_BASE + 80, UID_BASE + 88))


async def _no_process_left(uids: range) -> bool:
    """The kernel kills a namespace's processes once its init dies; allow it a moment."""
    for _ in range(50):
        if _processes_of_uids(uids) == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_worker_above_the_rss_threshold_is_recycled(packages):
    settings = {"uid_count": 8, "max_pools": 2, "max_rss_mb": 64}
    async with open_pool(uid_base=UID_BASE + 88, **settings) as sandbox:
        hoard = handler_spec(packages["hostile"], "hoard")
        held = [(await sandbox.call(hoard, event(), {})).result]
        while (len(held) == 1 or held[-1] != 1) and len(held) < 30:  # until a fresh worker answers
            await asyncio.sleep(0.2)  # its successor starts meanwhile; the old one serves on
            held.append((await sandbox.call(hoard, event(), {})).result)
        stats = sandbox.stats()
    assert held[0] == 1
    assert len(held) > 1
    assert held[-1] == 1, held  # a fresh worker, holding nothing yet
    assert stats["recycled"] >= 1


async def test_workers_of_one_pool_serve_calls_side_by_side(packages):
    settings = {"uid_count": 8, "max_pools": 2, "workers_per_pool": 2}
    async with open_pool(uid_base=UID_BASE + 96, **settings) as sandbox:
        nap = handler_spec(packages["hostile"], "nap")
        outcomes = await asyncio.gather(*(sandbox.call(nap, event(), {}) for _ in range(4)))
        stats = sandbox.stats()
    assert all(o.ok for o in outcomes)
    assert len({o.result for o in outcomes}) == 2  # two workers, each a uid of its own
    assert stats["spawns"] == 2


async def test_an_oversized_event_is_refused_before_any_worker(pool: SandboxPool, packages):
    before = pool.stats()

    outcome = await pool.call(
        handler_spec(packages["hostile"], "echo"), event({"blob": "x" * 2_000_000}), {}
    )

    assert (outcome.ok, outcome.cause) == (False, "refused")
    assert outcome.error is not None
    assert "exceeds" in outcome.error
    assert pool.stats()["spawns"] == before["spawns"]


async def test_stats_name_every_counter_from_the_start(packages):
    async with open_pool(uid_base=UID_BASE + 104, uid_count=4, max_pools=1) as sandbox:
        stats = sandbox.stats()

    assert stats["workers"] == 0
    for cause in ("timeout", "memory", "pids", "cpu", "crashed"):
        assert stats[f"kills_{cause}"] == 0
    for cause in ("ok", "exception", "timeout", "memory", "pids", "cpu", "refused", "crashed"):
        assert stats[f"outcomes_{cause}"] == 0
    assert (stats["recycled"], stats["respawns"], stats["orphans_reaped"]) == (0, 0, 0)
