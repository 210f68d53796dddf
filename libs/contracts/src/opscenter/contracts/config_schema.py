"""A plugin's ``config_schema`` (Draft 2020-12 JSON Schema) and the secrets it marks.

Invariants: a stored schema is normalized (the seed's ``required: true`` inside a property is
moved into the parent's ``required`` list), has ``type: object`` at the top and only local
``$ref``s; a property is secret when it has ``secret: true``, ``writeOnly: true`` or
``format: password``, and a secret's value is never shown, only ``SECRET_MASK``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

__all__ = [
    "SECRET_MASK",
    "check_config_schema",
    "join_secrets",
    "mask_config",
    "normalize_config_schema",
    "secret_fields",
    "validate_config",
]

SECRET_MASK = "********"  # noqa: S105 - the placeholder shown instead of a secret


def normalize_config_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with the legacy ``required: true|false`` inside a property moved
    into the parent object's ``required`` list (Draft 2020-12 wants a list there)."""
    out = copy.deepcopy(dict(schema))
    _normalize(out)
    return out


def _normalize(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _normalize(item)
        return
    if not isinstance(node, dict):
        return
    props = node.get("properties")
    if isinstance(props, dict):
        required = node.get("required")
        names: list[str] = list(required) if isinstance(required, list) else []
        for name, prop in props.items():
            if not isinstance(prop, dict) or not isinstance(prop.get("required"), bool):
                continue
            if prop.pop("required") and name not in names:
                names.append(name)
        if names:
            node["required"] = names
    for key, value in node.items():
        if key != "enum" and key != "const" and key != "default" and key != "examples":
            _normalize(value)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def check_config_schema(schema: dict[str, Any]) -> dict[str, Any]:
    normalized = normalize_config_schema(schema)
    try:
        Draft202012Validator.check_schema(normalized)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise ValueError(
            f"not a valid JSON Schema (2020-12){' at ' + where if where else ''}: {exc.message}"
        ) from None
    if normalized.get("type") != "object":
        raise ValueError("the top level must be 'type: object' (config is a mapping)")
    remote = [r for r in _refs(normalized) if not r.startswith("#")]
    if remote:
        raise ValueError(f"$ref must be local ('#/...'), got {remote[0]!r}")
    return normalized


def _is_secret(prop: Mapping[str, Any]) -> bool:
    return (
        prop.get("secret") is True
        or prop.get("writeOnly") is True
        or prop.get("format") == "password"
    )


def secret_fields(config_schema: Mapping[str, Any], _prefix: str = "") -> set[str]:
    """Dotted paths of properties marked secret (``secret: true``, ``writeOnly: true`` or
    ``format: password``), descending into nested object properties."""
    out: set[str] = set()
    props = config_schema.get("properties")
    if not isinstance(props, Mapping):
        return out
    for name, prop in props.items():
        if not isinstance(prop, Mapping):
            continue
        path = f"{_prefix}{name}"
        if _is_secret(prop):
            out.add(path)
        else:
            out |= secret_fields(prop, f"{path}.")
    return out


def join_secrets(public: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """The whole config: a copy of ``public`` with each value of ``secrets`` (``{dotted path:
    value}``, as the installer stores and seals them) set at its path."""
    full = copy.deepcopy(dict(public))
    for path, value in secrets.items():
        *parents, leaf = str(path).split(".")
        node = full
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = copy.deepcopy(value)
    return full


def mask_config(config: Mapping[str, Any], config_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value that is set replaced by ``********``."""
    masked = copy.deepcopy(dict(config))
    for path in secret_fields(config_schema):
        node: Any = masked
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(leaf) is not None:
            node[leaf] = SECRET_MASK
    return masked


def validate_config(
    schema: Mapping[str, Any] | None, config: Mapping[str, Any], prefix: str = "config"
) -> list[dict[str, str]]:
    """Every violation as ``{field, message}``; ``field`` is a dotted path under ``prefix``.
    Messages never quote the offending value (it may be a secret)."""
    if not schema:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True, separators=(",", ":")))
    errors = []
    for err in sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path)):
        path = [prefix, *(str(p) for p in err.absolute_path)]
        if err.validator == "required" and isinstance(err.validator_value, list):
            missing = [
                n
                for n in err.validator_value
                if isinstance(err.instance, dict) and n not in err.instance
            ]
            for name in missing:
                errors.append({"field": ".".join([*path, name]), "message": "is required"})
            continue
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(
                (err.schema.get("properties") or {}) if isinstance(err.schema, dict) else {}
            )
            for name in err.instance:
                if name not in allowed:
                    errors.append(
                        {"field": ".".join([*path, str(name)]), "message": "is not allowed"}
                    )
            continue
        errors.append(
            {"field": ".".join(path), "message": _message(err.validator, err.validator_value)}
        )
    return errors


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    """One compiled validator per distinct schema (keyed by its canonical JSON, so an edited
    schema is a new key); validators are stateless between ``iter_errors`` calls."""
    return Draft202012Validator(json.loads(schema_json))


def _message(keyword: Any, value: Any) -> str:
    if keyword == "type":
        return f"must be of type {value}"
    if keyword in (
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "format",
        "enum",
        "minItems",
        "maxItems",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "const",
    ):
        return f"violates {keyword} {json.dumps(value)[:200]}"
    return f"violates {keyword}"
