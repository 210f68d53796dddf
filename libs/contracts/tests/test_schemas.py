"""Snapshots are committed and current; the checker tells breaking from compatible changes."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from opscenter.contracts.catalog import PluginVersionPublishedV1
from opscenter.contracts.events import EventPayload, all_payload_classes
from opscenter.contracts.installer import InstallationFailedV1
from opscenter.contracts.platform import DeviceAlertV1, UserLoginV1
from opscenter.contracts.schemas import (
    SCHEMA_DIR,
    Change,
    check,
    compare_schemas,
    main,
    render_all,
    schema_for,
)


def breaking(changes: list[Change]) -> list[str]:
    return [str(c) for c in changes if c.breaking]


def compatible(changes: list[Change]) -> list[str]:
    return [str(c) for c in changes if not c.breaking]


def committed(cls: type[EventPayload]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / f"{cls.event_type}.json").read_text())
    return doc


def test_committed_snapshots_are_compatible() -> None:
    report = check(SCHEMA_DIR)
    assert report.ok, "\n".join(report.lines())


def test_committed_snapshots_are_current() -> None:
    stale = [
        rel
        for rel, text in render_all().items()
        if not (SCHEMA_DIR / rel).is_file() or (SCHEMA_DIR / rel).read_text() != text
    ]
    assert not stale, f"run: python -m opscenter.contracts.schemas write ({stale})"


@pytest.mark.parametrize("cls", all_payload_classes(), ids=lambda c: c.event_type)
def test_each_committed_snapshot_matches_its_model(cls: type[EventPayload]) -> None:
    assert compare_schemas(committed(cls), schema_for(cls)) == []


def test_removed_field_is_breaking() -> None:
    old = committed(UserLoginV1)
    new = copy.deepcopy(old)
    del new["properties"]["email"]
    new["required"].remove("email")
    assert breaking(compare_schemas(old, new)) == ["email: field removed"]


def test_new_required_field_is_breaking() -> None:
    old = committed(UserLoginV1)
    new = copy.deepcopy(old)
    new["properties"]["session_id"] = {"type": "string"}
    new["required"].append("session_id")
    assert breaking(compare_schemas(old, new)) == ["session_id: new required field"]


def test_field_becoming_required_is_breaking() -> None:
    old = committed(UserLoginV1)
    new = copy.deepcopy(old)
    new["required"].append("ip")
    assert "ip: field became required" in breaking(compare_schemas(old, new))


def test_changed_type_is_breaking() -> None:
    old = committed(DeviceAlertV1)
    new = copy.deepcopy(old)
    new["properties"]["message"] = {"type": "integer"}
    assert breaking(compare_schemas(old, new)) == ["message: type changed from string to integer"]


def test_becoming_nullable_is_breaking() -> None:
    old = committed(DeviceAlertV1)
    new = copy.deepcopy(old)
    new["properties"]["message"] = {"anyOf": [old["properties"]["message"], {"type": "null"}]}
    assert breaking(compare_schemas(old, new)) == [
        "message: type changed from string to null|string"
    ]


def test_narrowed_enum_is_breaking_and_widened_is_not() -> None:
    old = committed(DeviceAlertV1)
    narrowed = copy.deepcopy(old)
    narrowed["properties"]["severity"]["enum"] = ["warning", "critical"]
    assert breaking(compare_schemas(old, narrowed)) == [
        "severity: enum narrowed: removed ['\"info\"']"
    ]
    widened = copy.deepcopy(old)
    widened["properties"]["severity"]["enum"].append("emergency")
    changes = compare_schemas(old, widened)
    assert breaking(changes) == []
    assert compatible(changes)


def test_narrowed_constraint_is_breaking() -> None:
    old = committed(DeviceAlertV1)
    new = copy.deepcopy(old)
    new["properties"]["message"]["maxLength"] = 100
    assert breaking(compare_schemas(old, new)) == ["message: maxLength changed from 2000 to 100"]
    assert breaking(compare_schemas(new, old)) == []


def test_added_optional_field_is_compatible() -> None:
    old = committed(UserLoginV1)
    new = copy.deepcopy(old)
    new["properties"]["user_agent"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    changes = compare_schemas(old, new)
    assert breaking(changes) == []
    assert compatible(changes) == ["user_agent: new optional field"]


def test_nested_changes_are_found_through_refs() -> None:
    old = committed(PluginVersionPublishedV1)
    new = copy.deepcopy(old)
    manifest = new["$defs"]["Manifest"]
    del manifest["properties"]["license"]
    new["$defs"]["HookSpec"]["required"].append("url")
    assert set(breaking(compare_schemas(old, new))) == {
        "manifest.license: field removed",
        "manifest.hooks[].url: field became required",
    }


def test_nested_enum_narrowing_through_list_items() -> None:
    old = committed(PluginVersionPublishedV1)
    new = copy.deepcopy(old)
    new["$defs"]["Permission"]["enum"].remove("cron:schedule")
    assert breaking(compare_schemas(old, new)) == [
        "manifest.permissions[]: enum narrowed: removed ['\"cron:schedule\"']"
    ]


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def _edit(path: Path, fn: Any) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def test_check_fails_when_the_model_drops_a_field(snapshots: Path) -> None:
    # The committed snapshot knows a field the model no longer has: the model removed it.
    _edit(
        snapshots / "user.login.json",
        lambda d: d["properties"].update(session_id={"type": "string"}),
    )
    report = check(snapshots)
    assert not report.ok
    assert report.breaking == ["user.login: session_id: field removed"]
    assert main(["check", "--dir", str(snapshots)]) == 1


def test_check_passes_but_reports_stale_when_an_optional_field_was_added(
    snapshots: Path,
) -> None:
    # The snapshot lacks an optional field the model has: the model added it.
    _edit(snapshots / "user.login.json", lambda d: d["properties"].pop("ip"))
    report = check(snapshots)
    assert report.ok
    assert report.stale == ["user.login: ip: new optional field"]
    assert main(["check", "--dir", str(snapshots)]) == 0


def test_check_fails_when_a_committed_example_no_longer_parses(snapshots: Path) -> None:
    _edit(
        snapshots / "examples" / f"{InstallationFailedV1.event_type}.json",
        lambda d: d["data"].update(retryable="sometimes"),
    )
    report = check(snapshots)
    assert len(report.breaking) == 1
    assert "no longer parses" in report.breaking[0]
    assert "data.retryable" in report.breaking[0]


def test_check_fails_on_missing_and_removed_snapshots(snapshots: Path) -> None:
    (snapshots / "device.alert.json").unlink()
    (snapshots / "device.exploded.json").write_text("{}\n")
    report = check(snapshots)
    assert report.missing == ["device.alert.json"]
    assert report.breaking == ["device.exploded: event type removed (its snapshot remains)"]


def test_write_then_check_is_clean(tmp_path: Path) -> None:
    assert main(["write", "--dir", str(tmp_path)]) == 0
    report = check(tmp_path)
    assert report.ok
    assert not report.stale
    assert len(list(tmp_path.glob("*.json"))) == len(all_payload_classes())
