"""plugin.yaml validation: every rule names the field and the reason, and all problems at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from opscenter.contracts.errors import ManifestError
from opscenter.contracts.manifest import (
    Manifest,
    mask_config,
    normalize_config_schema,
    secret_fields,
    validate_manifest,
)
from opscenter.contracts.safe_yaml import load_manifest

SEED = Path(__file__).parent / "fixtures" / "seed_plugin.yaml"


def seed_data() -> dict[str, Any]:
    return copy.deepcopy(Manifest.example().model_dump(mode="json", exclude_none=True))


def errors_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ManifestError) as info:
        validate_manifest(data)
    return {e.loc: e.msg for e in info.value.errors}


def test_seed_template_validates() -> None:
    manifest = load_manifest(SEED.read_bytes())
    assert manifest.id == "my-awesome-plugin"
    assert manifest.version == "1.0.0"
    assert manifest.type == "hybrid"
    assert manifest.permissions == ["api:devices:read", "storage:write"]
    assert manifest.hooks[0].name == "device.created"
    assert manifest.dependencies.npm == [{"react": "^18.0.0"}]
    assert manifest.pricing.kind == "free"


def test_seed_legacy_required_is_normalised() -> None:
    manifest = load_manifest(SEED.read_text())
    assert manifest.config_schema == {
        "type": "object",
        "properties": {"api_key": {"type": "string"}},
        "required": ["api_key"],
    }


@pytest.mark.parametrize(
    ("change", "loc", "reason"),
    [
        ({"id": "My_Plugin"}, "id", "lowercase letters"),
        ({"id": "ab"}, "id", "3-64 characters"),
        ({"id": "-leading"}, "id", "hyphen"),
        ({"id": "0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"}, "id", "UUID"),
        ({"id": "0b5e7c4e2f7d4c559a513f1f5d0c9a11"}, "id", "UUID"),
        ({"version": "1.0"}, "version", "not a semantic version"),
        ({"version": "v1.0.0"}, "version", "not a semantic version"),
        ({"version": "01.0.0"}, "version", "not a semantic version"),
        ({"permissions": ["api:devices:read", "root:all"]}, "permissions[1]", "unknown permission"),
        ({"hooks": [{"name": "device.exploded", "handler": "a.b:c"}]}, "hooks[0].name", "unknown"),
        ({"type": "plugin"}, "type", "unknown type 'plugin'"),
        ({"category": "misc"}, "category", "unknown category"),
        (
            {"config_schema": {"type": "object", "properties": {"a": {"type": "strin"}}}},
            "config_schema",
            "not a valid JSON Schema",
        ),
        ({"config_schema": {"type": "object", "required": "a"}}, "config_schema", "JSON Schema"),
        ({"config_schema": {"type": "array"}}, "config_schema", "type: object"),
        (
            {"config_schema": {"type": "object", "properties": {"a": {"$ref": "https://x/s"}}}},
            "config_schema",
            "$ref must be local",
        ),
        (
            {"dependencies": {"plugins": {"other-plugin": "not a range"}}},
            "dependencies.plugins.other-plugin",
            "not a valid version range",
        ),
        (
            {"dependencies": {"plugins": {"other-plugin": ""}}},
            "dependencies.plugins.other-plugin",
            "non-blank",
        ),
        ({"dependencies": {"npm": [{"react": "^^18"}]}}, "dependencies.npm[0].react", "range"),
        ({"dependencies": {"npm": [{"React!": "^18.0.0"}]}}, "dependencies.npm[0].React!", "npm"),
        ({"dependencies": {"python": ["requests >>= 2"]}}, "dependencies.python[0]", "PEP 508"),
        ({"compatibility": {"platform": "banana"}}, "compatibility.platform", "version range"),
        ({"tags": ["Machine Learning"]}, "tags[0]", "lowercase"),
        ({"tags": ["a", "a"]}, "tags", "more than once"),
        ({"author_email": "nobody"}, "author_email", "not an email"),
        (
            {"entry_points": {"backend": "../../etc/passwd:x", "frontend": "f.tsx"}},
            "entry_points.backend",
            "relative path",
        ),
        ({"hooks": [{"name": "device.created"}]}, "hooks[0]", "exactly one of"),
        (
            {"hooks": [{"name": "device.created", "handler": "a:b", "url": "https://x.io"}]},
            "hooks[0]",
            "exactly one of",
        ),
        ({"hooks": [{"name": "device.created", "url": "ftp://x.io/h"}]}, "hooks[0].url", "http"),
        ({"homepage": "https://example.com"}, "homepage", "not a known field"),
    ],
)
def test_rejects_with_field_and_reason(change: dict[str, Any], loc: str, reason: str) -> None:
    errors = errors_of({**seed_data(), **change})
    assert loc in errors, errors
    assert reason in errors[loc]


@pytest.mark.parametrize("missing", ["id", "name", "version", "author", "type", "category"])
def test_required_fields(missing: str) -> None:
    data = seed_data()
    del data[missing]
    assert errors_of(data) == {missing: "is required"}


def test_every_problem_is_listed() -> None:
    data = {
        **seed_data(),
        "id": "Bad Slug",
        "version": "one",
        "type": "plugin",
        "permissions": ["nope"],
        "hooks": [{"name": "device.exploded", "handler": "a:b"}],
        "config_schema": {"type": "object", "properties": {"x": {"type": 5}}},
        "pricing": {"free": False},
    }
    errors = errors_of(data)
    assert set(errors) == {
        "id",
        "version",
        "type",
        "permissions[0]",
        "hooks[0].name",
        "config_schema",
        "pricing",
    }
    with pytest.raises(ManifestError) as info:
        validate_manifest(data)
    assert "id:" in str(info.value)
    assert "pricing:" in str(info.value)


def test_cross_field_problems_are_all_listed() -> None:
    data = {
        **seed_data(),
        "type": "backend",
        "entry_points": {},
        "permissions": ["storage:write"],
        "dependencies": {"plugins": {"my-awesome-plugin": "^1.0.0"}},
    }
    errors = errors_of(data)
    assert "is required for a backend plugin" in errors["entry_points.backend"]
    assert "needs entry_points.backend" in errors["hooks[0].handler"]
    assert "needs permission api:devices:read" in errors["hooks[0].name"]
    assert "itself" in errors["dependencies.plugins.my-awesome-plugin"]


def test_hook_permission_is_covered_by_write_or_admin() -> None:
    for granted in (["api:devices:write"], ["admin:*"]):
        assert validate_manifest({**seed_data(), "permissions": granted}).permissions == granted


def test_webhook_hook_needs_no_backend() -> None:
    data = {
        **seed_data(),
        "type": "frontend",
        "entry_points": {"frontend": "src/index.tsx"},
        "hooks": [{"name": "tenant.upgraded", "url": "https://hooks.example.com/ops"}],
        "permissions": [],
    }
    assert validate_manifest(data).hooks[0].url == "https://hooks.example.com/ops"


def test_not_a_mapping() -> None:
    with pytest.raises(ManifestError) as info:
        validate_manifest(["id"])
    assert info.value.errors[0].loc == "plugin.yaml"


@pytest.mark.parametrize(
    ("pricing", "kind"),
    [
        ({"free": True}, "free"),
        ({"free": False, "monthly": 29.99, "yearly": 299.99, "trial_days": 14}, "subscription"),
        ({"free": False, "monthly": "29.99"}, "subscription"),
        ({"free": False, "yearly": 299.99, "trial_days": 0}, "subscription"),
        ({"free": False, "lifetime": 99.99}, "lifetime"),
    ],
)
def test_pricing_forms(pricing: dict[str, Any], kind: str) -> None:
    manifest = validate_manifest({**seed_data(), "pricing": pricing})
    assert manifest.pricing.kind == kind
    dumped = manifest.model_dump(mode="json")["pricing"]
    if "monthly" in pricing:
        assert dumped["monthly"] == "29.99"


@pytest.mark.parametrize(
    ("pricing", "loc", "reason"),
    [
        ({"free": True, "monthly": 5}, "pricing", "free plugin has no prices"),
        ({"free": False}, "pricing", "needs monthly and/or yearly, or lifetime"),
        ({"free": False, "monthly": 5, "lifetime": 50}, "pricing", "not both"),
        ({"free": False, "lifetime": 50, "trial_days": 7}, "pricing", "only to subscriptions"),
        ({"free": False, "monthly": 0}, "pricing.monthly", "greater than 0"),
        ({"free": False, "monthly": -3}, "pricing.monthly", "greater than 0"),
        ({"free": False, "monthly": 1.234}, "pricing.monthly", "2 decimal places"),
        ({"free": False, "monthly": 5, "trial_days": -1}, "pricing.trial_days", "greater than"),
        ({"monthly": 5}, "pricing.free", "is required"),
    ],
)
def test_pricing_rejects(pricing: dict[str, Any], loc: str, reason: str) -> None:
    errors = errors_of({**seed_data(), "pricing": pricing})
    assert reason in errors[loc], errors


def test_secret_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "api_key": {"type": "string", "secret": True},
            "token": {"type": "string", "writeOnly": True},
            "password": {"type": "string", "format": "password"},
            "region": {"type": "string"},
            "smtp": {
                "type": "object",
                "properties": {"host": {"type": "string"}, "pass": {"secret": True}},
            },
        },
    }
    assert secret_fields(schema) == {"api_key", "token", "password", "smtp.pass"}
    config = {"api_key": "k", "region": "eu", "smtp": {"host": "h", "pass": "p"}}
    assert mask_config(config, schema) == {
        "api_key": "********",
        "region": "eu",
        "smtp": {"host": "h", "pass": "********"},
    }
    assert config["api_key"] == "k"


def test_secret_config_schema_validates_in_a_manifest() -> None:
    schema = {"type": "object", "properties": {"api_key": {"type": "string", "secret": True}}}
    manifest = validate_manifest({**seed_data(), "config_schema": schema})
    assert manifest.secret_fields == {"api_key"}


def test_normalize_keeps_existing_required_and_drops_false() -> None:
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "required": True},
            "c": {"type": "string", "required": False},
            "d": {"type": "object", "properties": {"e": {"type": "integer", "required": True}}},
        },
    }
    out = normalize_config_schema(schema)
    assert out["required"] == ["a", "b"]
    assert "required" not in out["properties"]["c"]
    assert out["properties"]["d"]["required"] == ["e"]
    assert schema["properties"]["b"]["required"] is True  # the input is not modified


def test_a_hook_may_name_a_family_and_needs_the_permission_of_its_events() -> None:
    hooks = [{"name": "device.*", "handler": "backend.hooks:on_device"}]
    data = {**seed_data(), "hooks": hooks, "permissions": ["api:devices:read"]}
    assert validate_manifest(data).hooks[0].name == "device.*"
    errors = errors_of({**data, "permissions": ["storage:write"]})
    assert "device.* needs permission api:devices:read" in errors["hooks[0].name"]
    tenant = {**data, "hooks": [{"name": "tenant.*", "url": "https://x.example.com/h"}]}
    assert validate_manifest({**tenant, "permissions": []}).hooks[0].name == "tenant.*"


@pytest.mark.parametrize(
    "name", ["*", ".*", "device.created.*", "printer.*", "device.", "Device.*"]
)
def test_a_hook_name_that_is_no_event_nor_family_is_refused(name: str) -> None:
    errors = errors_of({**seed_data(), "hooks": [{"name": name, "handler": "backend.hooks:f"}]})
    assert "unknown hook event" in errors["hooks[0].name"]
