"""Login audit, written with the SDK: ``Plugin.from_manifest()`` reads this plugin's
``plugin.yaml``, ``@plugin.on`` registers the handler and returns it unchanged (so the manifest's
``audit.hooks:on_login`` is this very function), and ``plugin.event``/``plugin.context`` give
the typed event (``UserLoginV1``) and config."""

from __future__ import annotations

from typing import Any

from opscenter.sdk import Plugin

plugin = Plugin.from_manifest()

#: Addresses seen per user, for the life of the worker (a real audit would keep them in storage).
SEEN: dict[str, set[str]] = {}


@plugin.on("user.login")
def on_login(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    login = plugin.event(event).data
    ctx = plugin.context(context)
    if login.user_id in (ctx.config.ignored_users or []):
        return {"audited": False}
    address = str(login.ip) if login.ip else None
    seen = SEEN.setdefault(login.user_id, set())
    new_address = address is not None and address not in seen
    if address:
        seen.add(address)
    return {
        "audited": True,
        "user": login.user_id,
        "email": login.email,
        "flagged": bool(ctx.config.flag_new_addresses and new_address),
    }
