"""``Plugin``: a plugin's manifest and the handlers it registers.

``@plugin.on("device.created")`` records the handler and returns the function unchanged, so the
manifest's ``module:function`` imports the very function the dispatcher calls with
``(event, context)`` as JSON objects. Inside, ``plugin.event(event)`` and
``plugin.context(context)`` give the typed views. Registering a hook the manifest does not
subscribe to is an error at import time, not at the first delivery.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from opscenter.contracts.hook_events import hook_event, matches_hook
from opscenter.contracts.manifest import Manifest
from opscenter.contracts.safe_yaml import load_manifest
from opscenter.sdk.config import PluginConfig, config_model, load_config
from opscenter.sdk.context import Context
from opscenter.sdk.events import Event, parse_event

__all__ = ["MANIFEST_NAME", "HookNotDeclared", "Plugin", "find_manifest"]

MANIFEST_NAME = "plugin.yaml"
F = TypeVar("F", bound=Callable[..., Any])


class HookNotDeclared(LookupError):
    """A handler is registered, or an event emitted, for a hook the manifest lacks."""


def find_manifest(start: Path) -> Path:
    """``plugin.yaml`` in ``start`` or the nearest folder above it."""
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {MANIFEST_NAME} in {here} or any folder above it")


class Plugin:
    def __init__(self, manifest: Manifest, root: Path) -> None:
        self.manifest = manifest
        self.root = root
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.Config: type[PluginConfig] = config_model(manifest.config_schema)

    @classmethod
    def from_manifest(cls, path: str | Path | None = None) -> Plugin:
        """The plugin whose ``plugin.yaml`` is ``path`` (a file or its folder); by default the
        one nearest above the calling module. Validated with the catalog's rules."""
        if path is None:
            caller = inspect.stack()[1].filename
            manifest_path = find_manifest(Path(caller).resolve())
        else:
            given = Path(path)
            manifest_path = given / MANIFEST_NAME if given.is_dir() else given
        return cls(load_manifest(manifest_path.read_bytes()), manifest_path.parent)

    def declared_hook(self, event_type: str) -> Any:
        """The manifest's hook that receives ``event_type``; ``HookNotDeclared`` when none."""
        for hook in self.manifest.hooks:
            if matches_hook(hook.name, event_type):
                return hook
        raise HookNotDeclared(f"{self.manifest.id} does not subscribe to {event_type!r}")

    def on(self, event_type: str) -> Callable[[F], F]:
        """Registers the decorated function for ``event_type``; returns it unchanged."""
        hook_event(event_type)  # an unknown event fails at import time
        self.declared_hook(event_type)

        def register(function: F) -> F:
            self.handlers[event_type] = function
            return function

        return register

    def event(self, event: Mapping[str, Any] | Event[Any]) -> Event[Any]:
        return parse_event(event)

    def config(self, config: Mapping[str, Any]) -> PluginConfig:
        return load_config(self.manifest.config_schema, config)

    def context(self, context: Mapping[str, Any] | Context) -> Context:
        """The typed context; its ``config`` is this plugin's config model."""
        if isinstance(context, Context):
            return context
        return Context.of(context, config=self.config(context.get("config") or {}))
