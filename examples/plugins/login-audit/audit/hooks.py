"""Login audit. It runs in the platform's sandbox, which has Python's standard library and
this plugin's files only (the harness runs it the same way), so it reads the event and the
config as the plain JSON the dispatcher passes: ``event["data"]`` is a ``user.login`` trimmed
to the grant (``api:users:read`` gives the email), ``context["config"]`` the installation's
config as the tenant admin set it (defaults are the handler's to apply: the installer stores
what was given)."""

from __future__ import annotations

from typing import Any

#: Addresses seen per user, for the life of the worker (a real audit would keep them in storage).
SEEN: dict[str, set[str]] = {}


def on_login(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    login = event["data"]
    config = context.get("config") or {}
    user = str(login["user_id"])
    if user in (config.get("ignored_users") or []):
        return {"audited": False}
    address = login.get("ip")
    seen = SEEN.setdefault(user, set())
    new_address = address is not None and address not in seen
    if address:
        seen.add(address)
    return {
        "audited": True,
        "user": user,
        "email": login.get("email"),
        "flagged": bool(config.get("flag_new_addresses", True) and new_address),
    }
