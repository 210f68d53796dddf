"""The CloudEvents envelope: round trips, UTC times, and parse errors that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from opscenter.contracts.envelope import CloudEvent, ContractError

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(**overrides: Any) -> CloudEvent:
    fields: dict[str, Any] = {
        "source": "/opscenter/catalog",
        "type": "catalog.plugin.registered.v1",
        "data": {"plugin_id": "x", "nested": {"n": None}},
        **overrides,
    }
    return CloudEvent(**fields)


def raw(**doc: Any) -> bytes:
    base: dict[str, Any] = {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "data": {},
    }
    base.update(doc)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_round_trip() -> None:
    original = event(
        subject="plugin/x",
        tenantid="t-1",
        traceparent=TRACEPARENT,
        dataschema="opscenter:catalog.plugin.registered.v1",
    )
    assert CloudEvent.from_json_bytes(original.to_json_bytes()) == original


def test_defaults() -> None:
    e = event()
    assert e.specversion == "1.0"
    assert e.datacontenttype == "application/json"
    assert len(e.id) == 36
    assert e.time.tzinfo is UTC
    assert event().id != e.id


def test_absent_attributes_are_omitted_but_null_data_is_kept() -> None:
    doc = json.loads(event().to_json_bytes())
    assert "subject" not in doc
    assert "tenantid" not in doc
    assert "traceparent" not in doc
    assert doc["data"] == {"plugin_id": "x", "nested": {"n": None}}
    assert doc["time"].endswith("Z")


def test_time_is_normalised_to_utc() -> None:
    local = datetime(2026, 1, 26, 21, 0, tzinfo=timezone(timedelta(hours=2)))
    assert event(time=local).time == datetime(2026, 1, 26, 19, 0, tzinfo=UTC)
    parsed = CloudEvent.from_json_bytes(raw(time="2026-01-26T21:00:00+02:00"))
    assert parsed.time.utcoffset() == timedelta(0)
    assert parsed.time.hour == 19


def test_extensions_accepted_on_parse_but_not_emitted() -> None:
    parsed = CloudEvent.from_json_bytes(raw(partitionkey="k", comexampleext=1))
    assert parsed.model_extra == {"partitionkey": "k", "comexampleext": 1}
    doc = json.loads(parsed.to_json_bytes())
    assert "partitionkey" not in doc
    assert "comexampleext" not in doc


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (raw(specversion="0.3"), "specversion"),
        (raw(source=...), "source"),
        (raw(source=""), "source"),
        (raw(type=...), "type"),
        (raw(id="  "), "id"),
        (raw(time="yesterday"), "time"),
        (raw(time="2026-01-26T19:00:00"), "time"),
        (raw(data=...), "data"),
        (raw(data=[1, 2]), "data"),
        (raw(traceparent="not-a-trace"), "traceparent"),
        (raw(tenantid=5), "tenantid"),
        (b"{not json", "(body)"),
        (b"[1]", "(body)"),
        (b"\xff", "(body)"),
    ],
)
def test_parse_errors_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(ContractError) as info:
        CloudEvent.from_json_bytes(body)
    assert info.value.field == field
    assert (field if field != "(body)" else "JSON") in str(info.value)
    assert isinstance(info.value, ValueError)


def test_all_bad_fields_are_listed() -> None:
    with pytest.raises(ContractError) as info:
        CloudEvent.from_json_bytes(raw(source="", type=...))
    assert {e.loc for e in info.value.errors} == {"source", "type"}


def test_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        event().type = "other"  # type: ignore[misc]
