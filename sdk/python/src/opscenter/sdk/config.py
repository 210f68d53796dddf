"""A plugin's typed config: a pydantic model built from its manifest's ``config_schema``.

The config is first checked with the installer's own ``validate_config`` (contracts), so a
config the harness accepts is one the installer accepts, with the same field messages; the
model then gives attribute access, with every secret property as a ``SecretStr`` (its value
never appears in a repr or a log line).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, create_model

from opscenter.contracts.config_schema import (
    normalize_config_schema,
    secret_fields,
    validate_config,
)

__all__ = ["ConfigInvalid", "PluginConfig", "config_model", "load_config"]

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


class ConfigInvalid(ValueError):
    """The config does not satisfy ``config_schema``; ``errors`` are ``{field, message}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"config is invalid: {listed}")
        self.errors = errors


class PluginConfig(BaseModel):
    """Base of every generated config model; unknown keys are kept (the schema decides)."""

    model_config = ConfigDict(frozen=True, extra="allow")


def config_model(schema: Mapping[str, Any] | None, name: str = "Config") -> type[PluginConfig]:
    """A model with one field per top-level property (secrets as ``SecretStr``)."""
    normalized = normalize_config_schema(schema or {"type": "object"})
    required = set(normalized.get("required") or [])
    secrets = secret_fields(normalized)
    fields: dict[str, Any] = {}
    for prop, spec in (normalized.get("properties") or {}).items():
        kind: Any = _JSON_TYPES.get(str(spec.get("type")), Any) if isinstance(spec, dict) else Any
        if prop in secrets:
            kind = SecretStr
        if prop in required:
            fields[prop] = (kind, ...)
        else:
            default = spec.get("default") if isinstance(spec, dict) else None
            fields[prop] = (kind | None, default)
    return create_model(name, __base__=PluginConfig, **fields)


def load_config(schema: Mapping[str, Any] | None, config: Mapping[str, Any]) -> PluginConfig:
    """``config`` checked exactly as the installer checks it, as a typed model."""
    normalized = normalize_config_schema(schema) if schema else None
    errors = validate_config(normalized, config, "config")
    if errors:
        raise ConfigInvalid(errors)
    return config_model(normalized).model_validate(dict(config))
