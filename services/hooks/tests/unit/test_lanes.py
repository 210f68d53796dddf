"""Lanes: what is made one at a time, in order, across every dispatcher."""

from __future__ import annotations

import uuid

from opscenter.hooks.ingest.service import aggregate_of
from opscenter.hooks.models import Subscription
from opscenter.hooks.subscriptions.service import HookTarget, delivery_lane

HANDLER = HookTarget("handler", handler="inventory.handlers:on_device_created")
WEBHOOK = HookTarget("webhook", url="https://example.test/hook")


def sub(*granted: str) -> Subscription:
    return Subscription(installation_id=uuid.uuid4(), granted_permissions=list(granted))


def test_a_lane_is_one_aggregate_of_one_installation():
    s = sub("api:devices:read")

    lanes = {delivery_lane(s, HANDLER, aggregate_of({"device_id": d})) for d in ("d1", "d2")}

    assert lanes == {f"{s.installation_id}:device_id:d1", f"{s.installation_id}:device_id:d2"}
    assert delivery_lane(s, WEBHOOK, aggregate_of({})) == f"{s.installation_id}:tenant"


def test_a_handler_writing_its_storage_has_one_lane_for_the_installation():
    s = sub("api:devices:read", "storage:write")
    aggregates = [aggregate_of({"device_id": "d1"}), aggregate_of({"user_id": "u1"}), "tenant"]

    lanes = {delivery_lane(s, HANDLER, a) for a in [*aggregates, "schedule:nightly"]}

    assert lanes == {f"{s.installation_id}:storage"}
    # A webhook has no folder; admin:* covers storage:write like the grant itself.
    assert delivery_lane(s, WEBHOOK, "tenant") == f"{s.installation_id}:tenant"
    assert delivery_lane(sub("admin:*"), HANDLER, "tenant").endswith(":storage")
