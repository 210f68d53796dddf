"""Ops Center plugin SDK: typed events and config, the handler context, webhook verification,
and (in ``opscenter.sdk.testing``) the harness that runs a handler as the dispatcher will."""

from opscenter.sdk.config import ConfigInvalid, PluginConfig
from opscenter.sdk.context import Context, PermissionNotGranted
from opscenter.sdk.events import Event, parse_event
from opscenter.sdk.plugin import HookNotDeclared, Plugin
from opscenter.sdk.webhooks import WebhookVerificationError, verify

__all__ = [
    "ConfigInvalid",
    "Context",
    "Event",
    "HookNotDeclared",
    "PermissionNotGranted",
    "Plugin",
    "PluginConfig",
    "WebhookVerificationError",
    "parse_event",
    "verify",
]
