"""Manifest schedules (``cron:schedule``): what is refused and why, and the tick arithmetic
the hooks scheduler relies on."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opscenter.contracts import PluginVersionPublishedV1, example_event, parse_payload
from opscenter.contracts.errors import ManifestError
from opscenter.contracts.hook_events import can_receive, hook_event, trim_payload
from opscenter.contracts.manifest import Manifest, validate_manifest
from opscenter.contracts.schedules import MIN_INTERVAL_S, cron_problem, latest_tick, min_gap_s

TICK_HOOK = {"name": "schedule.tick", "url": "https://hooks.example.com/tick"}


def scheduled(*schedules: dict[str, str], **over: Any) -> dict[str, Any]:
    data = copy.deepcopy(Manifest.example().model_dump(mode="json", exclude_none=True))
    data["permissions"] = [*data["permissions"], "cron:schedule"]
    data["hooks"] = [*data["hooks"], TICK_HOOK]
    data["schedules"] = list(schedules)
    data.update(over)
    return data


def errors_of(data: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ManifestError) as info:
        validate_manifest(data, **kwargs)
    return {e.loc: e.msg for e in info.value.errors}


def test_a_scheduled_manifest_validates() -> None:
    m = validate_manifest(scheduled({"name": "nightly", "cron": "0 2 * * *"}))
    assert [(s.name, s.cron) for s in m.schedules] == [("nightly", "0 2 * * *")]
    assert MIN_INTERVAL_S == 60.0
    every_minute = validate_manifest(scheduled({"name": "often", "cron": "* * * * *"}))
    assert every_minute.schedules[0].cron == "* * * * *", "the minimum itself is allowed"


def test_schedules_without_the_permission_are_refused() -> None:
    data = scheduled({"name": "nightly", "cron": "0 2 * * *"})
    data["permissions"] = ["api:devices:read"]
    errors = errors_of(data)
    assert "cron:schedule" in errors["schedules"]
    assert "schedule.tick needs permission cron:schedule" in errors["hooks[1].name"]
    data["permissions"] = ["api:devices:read", "admin:*"]
    assert validate_manifest(data).schedules, "admin:* covers cron:schedule"


def test_schedules_need_a_tick_hook_and_a_tick_hook_needs_schedules() -> None:
    data = scheduled({"name": "nightly", "cron": "0 2 * * *"})
    data["hooks"] = data["hooks"][:1]
    assert "add one to hooks" in errors_of(data)["schedules"]
    lonely = scheduled()
    assert "needs at least one schedule" in errors_of(lonely)["schedules"]


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("* * *", "has 3 fields; it needs 5"),
        ("* * * * * * *", "has 7 fields"),
        ("@hourly", "has 1 fields"),
        ("61 * * * *", "Bad minute"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("0 0 * * FUNDAY", "not valid"),
        ("0 " * 150, "longer than 200"),
    ],
)
def test_bad_cron_expressions_are_refused_with_the_reason(cron: str, reason: str) -> None:
    errors = errors_of(scheduled({"name": "bad", "cron": cron}))
    assert reason in errors["schedules[0].cron"]
    assert cron_problem(cron) is not None


@pytest.mark.parametrize(
    ("cron", "gap"),
    [("*/5 * * * * *", 5), ("0,30 * * * * *", 30), ("* * * * * *", 1)],
)
def test_schedules_more_frequent_than_the_minimum_are_refused(cron: str, gap: int) -> None:
    errors = errors_of(scheduled({"name": "fast", "cron": cron}))
    assert errors["schedules[0].cron"] == (
        f"{cron!r} fires every {gap} s; the minimum interval is 60 s"
    )
    # A test instance's operator may lower the floor; production keeps the default.
    assert validate_manifest(scheduled({"name": "fast", "cron": cron}), min_interval_s=1)


def test_schedule_names_are_checked_and_unique() -> None:
    badly_named = errors_of(scheduled({"name": "Nightly Report", "cron": "0 2 * * *"}))
    assert "schedules[0].name" in badly_named
    twice = errors_of(
        scheduled({"name": "a", "cron": "0 3 * * *"}, {"name": "a", "cron": "0 4 * * *"})
    )
    assert twice == {"schedules[1].name": "a is declared twice"}
    too_many = [{"name": f"s{i}", "cron": "0 2 * * *"} for i in range(21)]
    assert "schedules" in errors_of(scheduled(*too_many))


def test_a_manifest_read_from_an_event_is_not_judged_by_the_interval_again() -> None:
    manifest = validate_manifest(
        scheduled({"name": "fast", "cron": "*/2 * * * * *"}), min_interval_s=1
    )
    base = example_event(PluginVersionPublishedV1)
    data = {**base.data, "manifest": manifest.model_dump(mode="json")}
    parsed = parse_payload(base.model_copy(update={"data": data}))
    assert isinstance(parsed, PluginVersionPublishedV1)
    assert parsed.manifest.schedules[0].cron == "*/2 * * * * *"
    old = {**base.data, "manifest": {**base.data["manifest"]}}
    old["manifest"].pop("schedules", None)
    parsed_old = parse_payload(base.model_copy(update={"data": old}))
    assert isinstance(parsed_old, PluginVersionPublishedV1)
    assert parsed_old.manifest.schedules == [], "a manifest published before schedules parses"


def test_the_tick_event_needs_cron_schedule_and_keeps_every_field() -> None:
    entry = hook_event("schedule.tick")
    example = entry.example()
    assert set(example) == {"tenant_id", "installation_id", "schedule", "cron", "scheduled_for"}
    assert entry.as_catalog_entry()["permission"] == "cron:schedule"
    assert can_receive("schedule.tick", ["cron:schedule"])
    assert can_receive("schedule.tick", ["admin:*"])
    assert not can_receive("schedule.tick", ["api:devices:read"])
    assert trim_payload("schedule.tick", {**example, "extra": 1}, ["cron:schedule"]) == example


def test_gaps_and_latest_ticks() -> None:
    assert min_gap_s("* * * * *") == 60
    assert min_gap_s("0 2 * * *") == 86400
    assert min_gap_s("0,1 * * * *") == 60
    assert min_gap_s("0 0 1 1 *") >= 365 * 86400
    at = datetime(2026, 3, 1, 10, 7, 3, 400000, tzinfo=UTC)
    assert latest_tick("*/5 * * * *", at) == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert latest_tick("*/2 * * * * *", at) == datetime(2026, 3, 1, 10, 7, 2, tzinfo=UTC)
    exact = datetime(2026, 3, 1, 10, 10, tzinfo=UTC)
    assert latest_tick("*/5 * * * *", exact) == exact, "a tick at now is due now"
