"""Device inventory handlers. They run in the platform's sandbox, so they use the standard
library only; the inventory is one JSON file in the installation's storage folder
(``context["storage"]``, given with ``storage:write``), replaced atomically on each event."""

from __future__ import annotations

import json
import os
from typing import Any

FILE = "inventory.json"


def _path(context: dict[str, Any]) -> str:
    storage = context.get("storage")
    if not storage:
        raise PermissionError("the inventory needs storage:write")
    return os.path.join(storage, FILE)


def _load(context: dict[str, Any]) -> dict[str, Any]:
    try:
        with open(_path(context)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _save(context: dict[str, Any], inventory: dict[str, Any]) -> None:
    path = _path(context)
    with open(path + ".tmp", "w") as f:
        json.dump(inventory, f, sort_keys=True)
    os.replace(path + ".tmp", path)


def report(context: dict[str, Any], inventory: dict[str, Any]) -> dict[str, Any]:
    kinds = context.get("config", {}).get("report_kinds") or None
    counted = [d for d in inventory.values() if kinds is None or d.get("kind") in kinds]
    by_kind: dict[str, int] = {}
    for device in counted:
        by_kind[device.get("kind") or "unknown"] = (
            by_kind.get(device.get("kind") or "unknown", 0) + 1
        )
    return {"devices": len(counted), "by_kind": by_kind}


def on_device_created(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    inventory = _load(context)
    inventory[data["device_id"]] = {k: data.get(k) for k in ("name", "kind", "ip")}
    _save(context, inventory)
    return report(context, inventory)


def on_device_updated(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    inventory = _load(context)
    known = inventory.setdefault(data["device_id"], {})
    known.update({k: v for k, v in data.items() if k in ("name", "kind", "ip") and v is not None})
    _save(context, inventory)
    return report(context, inventory)


def on_device_deleted(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    inventory = _load(context)
    inventory.pop(event["data"]["device_id"], None)
    _save(context, inventory)
    return report(context, inventory)
