"""``parse_typed_event`` (envelope and payload validated in one pass) accepts exactly what
``CloudEvent.from_json_bytes`` then ``parse_payload`` accept, with the same values: the models
stay the one definition of a valid event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opscenter.contracts import (
    CloudEvent,
    ContractError,
    UnknownEventType,
    all_payload_classes,
    example_event,
    parse_payload,
    parse_typed_event,
)
from opscenter.contracts.catalog import PluginDownloadedV1, PluginRegisteredV1
from opscenter.contracts.hooks import DeliverySucceededV1
from opscenter.contracts.installer import EntitlementChangedV1


def usual(raw: bytes) -> tuple[CloudEvent, Any]:
    event = CloudEvent.from_json_bytes(raw)
    return event, parse_payload(event)


def same_outcome(raw: bytes, event_type: str) -> None:
    """The one-pass path accepts ``raw`` exactly when the usual one does, with equal values."""
    try:
        expected: tuple[CloudEvent, Any] | None = usual(raw)
    except (ContractError, UnknownEventType):
        expected = None
    typed = parse_typed_event(raw, event_type)
    if expected is None:
        assert typed is None, f"the one-pass path accepted what the models refuse: {raw!r}"
        return
    assert typed is not None, f"the one-pass path refused a valid event: {raw!r}"
    event, payload = expected
    assert parse_payload(typed) == payload
    assert type(parse_payload(typed)) is type(payload)
    for name in CloudEvent.model_fields:
        if name != "data":
            assert getattr(typed, name) == getattr(event, name), name


def raw_of(cls: type, **changes: Any) -> bytes:
    """The example event of ``cls`` as JSON, with envelope (``env.<name>``) or payload
    (``<name>``) attributes replaced; ``...`` removes one."""
    body = json.loads(example_event(cls).to_json_bytes())
    for name, value in changes.items():
        target, key = (body, name[4:]) if name.startswith("env_") else (body["data"], name)
        if value is ...:
            target.pop(key, None)
        else:
            target[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize("cls", all_payload_classes(), ids=lambda c: c.event_type)
def test_every_example_event_parses_to_the_same_event_and_payload(cls):
    same_outcome(example_event(cls).to_json_bytes(), cls.event_type)


D, R, E, P = DeliverySucceededV1, PluginRegisteredV1, EntitlementChangedV1, PluginDownloadedV1

BAD_AND_EDGE = [
    # the envelope
    ("blank id", D, {"env_id": "  "}),
    ("no source", D, {"env_source": ...}),
    ("specversion 0.3", D, {"env_specversion": "0.3"}),
    ("naive time", D, {"env_time": "2026-01-26T19:00:00"}),
    ("offset time", D, {"env_time": "2026-01-26T21:00:00+02:00"}),
    ("not a time", D, {"env_time": "yesterday"}),
    ("bad traceparent", D, {"env_traceparent": "00-abc-01"}),
    ("ff traceparent", D, {"env_traceparent": "ff-" + "1" * 32 + "-" + "2" * 16 + "-01"}),
    ("data not an object", D, {"env_data": [1, 2]}),
    ("no data", D, {"env_data": ...}),
    ("an unknown extension", D, {"env_partitionkey": "x"}),
    ("tenantid a number", D, {"env_tenantid": 7}),
    ("another type's dataschema", D, {"env_dataschema": "opscenter:catalog.plugin.registered.v1"}),
    ("no dataschema", D, {"env_dataschema": ...}),
    ("the body names another type", D, {"env_type": "hooks.delivery.failed.v1"}),
    ("an unknown type", D, {"env_type": "nobody.knows.v1"}),
    # the payload
    ("negative latency", D, {"latency_ms": -1}),
    ("latency a string of digits", D, {"latency_ms": "87"}),
    ("latency a float", D, {"latency_ms": 87.0}),
    ("latency 87.5", D, {"latency_ms": 87.5}),
    ("attempt 0", D, {"attempt": 0}),
    ("a plugin id that is no UUID", D, {"plugin_id": "plugin-1"}),
    ("no plugin id", D, {"plugin_id": ...}),
    ("a blank tenant", D, {"tenant_id": "   "}),
    ("a 129-character tenant", D, {"tenant_id": "t" * 129}),
    ("an unknown target", D, {"target": "email"}),
    ("an unknown payload field", D, {"surprise": True}),
    ("a slug shaped like a UUID", R, {"slug": "0b9e0e4c-8e43-4b8f-9a86-5b7c2a4f6d10"}),
    ("a slug with capitals", R, {"slug": "Bad-Slug"}),
    ("a two-letter slug", R, {"slug": "ab"}),
    ("an unknown category", R, {"category": "games"}),
    ("an unknown pricing field", R, {"pricing": {"free": True, "bogus": 1}}),
    ("a version that is no SemVer", P, {"version": "1.0"}),
    ("amounts that do not add up", E, {"gross_amount": "10.00"}),
    ("three decimals", E, {"gross_amount": "1.000"}),
    ("money as a JSON number", E, {"gross_amount": 79.5, "developer_amount": 55.65}),
    ("money with three decimals as a JSON number", E, {"gross_amount": 1.005}),
    ("a negative amount", E, {"platform_amount": "-1"}),
    ("a lowercase currency", E, {"currency": "usd"}),
]


@pytest.mark.parametrize(
    ("name", "cls", "changes"), BAD_AND_EDGE, ids=[case[0] for case in BAD_AND_EDGE]
)
def test_the_one_pass_path_refuses_exactly_what_the_models_refuse(name, cls, changes):
    same_outcome(raw_of(cls, **changes), cls.event_type)


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[]", b'{"specversion": "1.0"}', b"\xff\xfe", b"null"]
)
def test_what_is_no_event_at_all_is_refused_by_both(raw):
    same_outcome(raw, DeliverySucceededV1.event_type)
