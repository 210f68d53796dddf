"""The inventory handlers through the harness: storage persists between events of one
installation, the report follows the config, and without storage the handler is refused."""

from __future__ import annotations

from pathlib import Path

from opscenter.sdk.testing import Harness

ROOT = Path(__file__).resolve().parents[1]


def test_created_then_deleted_devices_are_counted():
    harness = Harness.load(ROOT)
    first = harness.emit("device.created")
    assert first.ok, first.error
    assert first.result == {"devices": 1, "by_kind": {"router": 1}}
    second = harness.emit(
        "device.created", {**harness.event("device.created")["data"], "device_id": "dev-43",
                           "kind": "switch"}
    )  # fmt: skip
    assert second.result == {"devices": 2, "by_kind": {"router": 1, "switch": 1}}
    gone = harness.emit("device.deleted")
    assert gone.result == {"devices": 1, "by_kind": {"switch": 1}}


def test_the_report_counts_only_the_configured_kinds():
    harness = Harness.load(ROOT, config={"report_kinds": ["switch"]})
    assert harness.emit("device.created").result == {"devices": 0, "by_kind": {}}


def test_without_storage_the_handler_is_refused_as_in_the_sandbox():
    harness = Harness.load(ROOT, granted=["api:devices:read"])
    result = harness.emit("device.created")
    assert (result.ok, result.cause) == (False, "refused")
    assert "storage:write" in (result.error or "")
