"""The registry and every registered payload: examples, round trips, keys, snapshots."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, ClassVar
from uuid import uuid4

import pytest

from opscenter.contracts import catalog, hooks, installer, platform, reviews
from opscenter.contracts.envelope import CloudEvent
from opscenter.contracts.errors import ContractError, UnknownEventType
from opscenter.contracts.events import (
    EventPayload,
    all_payload_classes,
    example_event,
    new_event,
    parse_payload,
    payload_class,
)
from opscenter.contracts.lifecycle import InstallationState
from opscenter.contracts.schemas import SCHEMA_DIR
from opscenter.contracts.topics import ALL_TOPICS, CATALOG_PLUGIN, Topic

CLASSES = all_payload_classes()
PLATFORM_TYPES = {
    "device.created",
    "device.updated",
    "device.deleted",
    "device.alert",
    "user.created",
    "user.login",
    "user.logout",
    "tenant.created",
    "tenant.upgraded",
}


def ids(cls: type[EventPayload]) -> str:
    return cls.event_type


def test_registry_covers_every_module() -> None:
    modules = {catalog, installer, hooks, reviews, platform}
    defined = {
        obj
        for m in modules
        for obj in vars(m).values()
        if isinstance(obj, type) and issubclass(obj, EventPayload) and "event_type" in vars(obj)
    }
    assert defined == set(CLASSES)
    assert len(CLASSES) >= 37


def test_event_type_names() -> None:
    types = {c.event_type for c in CLASSES}
    assert len(types) == len(CLASSES)
    assert {c.event_type for c in CLASSES if c.topic.name == "ops.platform"} == PLATFORM_TYPES
    for cls in CLASSES:
        assert cls.__name__.endswith("V1")
        # Hook events (the seed's names, and schedule.tick) are named as plugins subscribe.
        if cls.event_type not in PLATFORM_TYPES | {"schedule.tick"}:
            assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+\.v1", cls.event_type), cls.event_type
            assert cls.event_type.split(".")[0] == cls.topic.name.split(".")[0]
        assert cls.topic in ALL_TOPICS


def test_unknown_event_type() -> None:
    with pytest.raises(UnknownEventType) as info:
        payload_class("device.exploded")
    assert info.value.field == "type"
    event = CloudEvent(source="/x", type="device.exploded", data={})
    with pytest.raises(UnknownEventType):
        parse_payload(event)


def test_duplicate_event_type_is_refused() -> None:
    with pytest.raises(TypeError, match="already registered"):

        class Clash(EventPayload):
            event_type: ClassVar[str] = "device.created"
            topic: ClassVar[Topic] = CATALOG_PLUGIN


def test_payload_without_topic_is_refused() -> None:
    with pytest.raises(TypeError, match="no topic"):

        class NoTopic(EventPayload):
            event_type: ClassVar[str] = "test.no_topic.v1"


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_example_validates_and_round_trips(cls: type[EventPayload]) -> None:
    example = cls.example()
    assert payload_class(cls.event_type) is cls
    assert cls.model_validate(example.model_dump(mode="json")) == example
    event = new_event(example, source="/opscenter/test", traceparent=None)
    assert event.type == cls.event_type
    assert event.dataschema == f"opscenter:{cls.event_type}"
    wire = CloudEvent.from_json_bytes(event.to_json_bytes())
    assert parse_payload(wire) == example
    assert example.partition_key()
    if hasattr(example, "tenant_id") and example.tenant_id is not None:
        assert wire.tenantid == example.tenant_id


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_snapshot_and_example_are_committed(cls: type[EventPayload]) -> None:
    assert (SCHEMA_DIR / f"{cls.event_type}.json").is_file()
    committed = (SCHEMA_DIR / "examples" / f"{cls.event_type}.json").read_bytes()
    assert parse_payload(CloudEvent.from_json_bytes(committed)) == cls.example()


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_payloads_are_frozen_and_strict(cls: type[EventPayload]) -> None:
    data = cls.example().model_dump(mode="json")
    with pytest.raises(ValueError, match="not permitted"):
        cls.model_validate({**data, "surprise": 1})
    with pytest.raises(ValueError, match="frozen"):
        cls.example().__setattr__(next(iter(cls.model_fields)), None)


def test_consumer_ignores_fields_added_by_a_newer_producer() -> None:
    event = example_event(platform.DeviceCreatedV1)
    newer = event.model_copy(update={"data": {**event.data, "firmware": "2.1"}})
    assert parse_payload(newer) == platform.DeviceCreatedV1.example()


def test_parse_errors_name_the_data_field() -> None:
    event = example_event(reviews.ReviewCreatedV1)
    bad = event.model_copy(update={"data": {**event.data, "rating": 9, "slug": "X"}})
    with pytest.raises(ContractError) as info:
        parse_payload(bad)
    assert {e.loc for e in info.value.errors} == {"data.rating", "data.slug"}
    missing = event.model_copy(
        update={"data": {k: v for k, v in event.data.items() if k != "review_id"}}
    )
    with pytest.raises(ContractError, match=r"data\.review_id: is required"):
        parse_payload(missing)


def test_dataschema_must_match_type() -> None:
    event = example_event(platform.UserLoginV1)
    wrong = event.model_copy(update={"dataschema": "opscenter:user.logout"})
    with pytest.raises(ContractError) as info:
        parse_payload(wrong)
    assert info.value.field == "dataschema"
    assert parse_payload(event.model_copy(update={"dataschema": None}))


def test_new_event_tenant() -> None:
    payload = platform.TenantUpgradedV1.example()
    assert new_event(payload, source="/t").tenantid == payload.tenant_id
    assert new_event(payload, source="/t", tenant_id=payload.tenant_id).tenantid
    with pytest.raises(ContractError) as info:
        new_event(payload, source="/t", tenant_id="someone-else")
    assert info.value.field == "tenantid"
    plugin = catalog.PluginBannedV1.example()
    assert new_event(plugin, source="/c").tenantid is None
    assert new_event(plugin, source="/c", tenant_id="t", subject="s").subject == "s"


def test_example_event_is_deterministic() -> None:
    a, b = example_event(hooks.DeliveryFailedV1), example_event(hooks.DeliveryFailedV1)
    assert a == b
    assert a.to_json_bytes() == b.to_json_bytes()


def test_partition_keys() -> None:
    inst = installer.InstallationEnabledV1.example()
    assert inst.partition_key() == f"{inst.tenant_id}:{inst.plugin_id}"
    ent = installer.EntitlementChangedV1.example()
    assert ent.partition_key() == f"{ent.tenant_id}:{ent.plugin_id}"
    delivery = hooks.DeliverySucceededV1.example()
    assert delivery.partition_key() == str(delivery.installation_id)
    assert reviews.RatingSummaryChangedV1.example().partition_key() == str(
        reviews.RatingSummaryChangedV1.example().plugin_id
    )
    assert (
        platform.UserLoginV1.example().partition_key() == platform.UserLoginV1.example().tenant_id
    )


def _with(cls: type[EventPayload], **changes: Any) -> dict[str, Any]:
    return {**cls.example().model_dump(mode="json"), **changes}


@pytest.mark.parametrize(
    ("cls", "changes", "reason"),
    [
        (catalog.PluginVersionPublishedV1, {"version": "2.0.0"}, "differs from version"),
        (catalog.PluginVersionPublishedV1, {"slug": "another-plugin"}, "differs from slug"),
        (catalog.PluginVersionPublishedV1, {"signing_key_id": None}, "go together"),
        (catalog.PluginVersionPublishedV1, {"digest": "ABC"}, "sha-256"),
        (catalog.PluginVersionPublishedV1, {"signature": "c2hvcnQ="}, "64-byte"),
        (catalog.PluginVersionPublishedV1, {"published_at": "2026-01-26T19:00:00"}, "timezone"),
        (installer.InstallationEnabledV1, {"state": "disabled"}, "cannot follow"),
        (installer.InstallationFailedV1, {"operation": "upgrade"}, "previous state"),
        (installer.InstallationFailedV1, {"state": "enabled"}, "'failed'"),
        (installer.InstallationUpgradedV1, {"to_version": "9.9.9"}, "equal to_version"),
        (installer.InstallationEnabledV1, {"granted_permissions": ["root"]}, "Input should be"),
        (installer.EntitlementChangedV1, {"platform_amount": "1.00"}, "must equal gross"),
        (installer.EntitlementChangedV1, {"kind": "trial"}, "costs nothing"),
        (installer.EntitlementChangedV1, {"period_end": "2026-01-01T00:00:00Z"}, "after"),
        (reviews.RatingSummaryChangedV1, {"histogram": {"1": 12}}, "exactly the keys"),
        (reviews.RatingSummaryChangedV1, {"count": 11}, "add up"),
        (reviews.ReviewCreatedV1, {"rating": 0}, "greater than or equal to 1"),
        (platform.TenantUpgradedV1, {"to_tier": "free"}, "must differ"),
        (platform.UserCreatedV1, {"email": "nope"}, "not an email"),
        (platform.DeviceCreatedV1, {"ip": "300.1.1.1"}, "IPv"),
    ],
)
def test_payload_invariants(cls: type[EventPayload], changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        cls.model_validate(_with(cls, **changes))


def test_failed_upgrade_keeps_previous_state() -> None:
    failed = installer.InstallationFailedV1.model_validate(
        _with(
            installer.InstallationFailedV1, operation="upgrade", state="enabled", to_version="1.1.0"
        )
    )
    assert failed.state is InstallationState.ENABLED


@pytest.mark.parametrize(
    ("gross", "developer", "platform_"),
    [
        ("29.99", "20.99", "9.00"),
        ("100", "70.00", "30.00"),
        ("0.01", "0.01", "0.00"),
        ("0", "0.00", "0"),
        ("299.99", "209.99", "90.00"),
    ],
)
def test_split_revenue(gross: str, developer: str, platform_: str) -> None:
    dev, plat = installer.split_revenue(Decimal(gross))
    assert (dev, plat) == (Decimal(developer), Decimal(platform_))
    assert dev + plat == Decimal(gross)


def test_money_is_a_string_on_the_wire() -> None:
    data = json.loads(example_event(installer.EntitlementChangedV1).to_json_bytes())["data"]
    assert data["gross_amount"] == "29.99"
    assert data["developer_amount"] == "20.99"
    assert data["platform_amount"] == "9.00"


def test_version_published_carries_the_manifest() -> None:
    event = example_event(catalog.PluginVersionPublishedV1)
    payload = parse_payload(event)
    assert isinstance(payload, catalog.PluginVersionPublishedV1)
    assert payload.manifest.hooks[0].name == "device.created"
    assert payload.artifact_path.endswith("/my-awesome-plugin/versions/1.0.0/package")


def test_uuid_fields_accept_uuid_objects() -> None:
    payload = reviews.ReviewDeletedV1.model_validate(
        _with(reviews.ReviewDeletedV1, review_id=str(uuid4()))
    )
    assert payload.by == "author"
