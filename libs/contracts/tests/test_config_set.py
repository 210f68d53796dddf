"""``installer.installation.config_set.v1``: clear values, sealed secrets, committed example."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from opscenter.contracts import (
    CloudEvent,
    InstallationConfigSetV1,
    InstallationState,
    example_event,
    parse_payload,
)
from opscenter.contracts.schemas import SCHEMA_DIR, check

TYPE = "installer.installation.config_set.v1"


def test_the_snapshot_and_example_are_committed_and_parse() -> None:
    assert (SCHEMA_DIR / f"{TYPE}.json").exists()
    raw = (SCHEMA_DIR / "examples" / f"{TYPE}.json").read_bytes()
    payload = parse_payload(CloudEvent.from_json_bytes(raw))
    assert isinstance(payload, InstallationConfigSetV1)
    assert payload == InstallationConfigSetV1.example()
    assert check().ok


def test_the_example_carries_no_secret_in_clear() -> None:
    raw = example_event(InstallationConfigSetV1).to_json_bytes()
    assert b"example-api-key" not in raw
    data = json.loads(raw)["data"]
    assert data["secrets"]["paths"] == ["api_key"]
    assert "api_key" not in data["config"]


def _with(**changes: object) -> dict[str, object]:
    return {**InstallationConfigSetV1.example().model_dump(mode="json"), **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {"state": InstallationState.FAILED},  # a failed install sets no config
        {"state": InstallationState.UNINSTALLED},
        {"reason": "because"},
        {"secrets": {**_with()["secrets"], "box": "plain text"}},  # type: ignore[dict-item]
        {"secrets": {**_with()["secrets"], "algorithm": "none"}},  # type: ignore[dict-item]
    ],
)
def test_a_producer_cannot_emit_a_malformed_config_set(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InstallationConfigSetV1.model_validate(_with(**changes))


def test_secrets_are_optional() -> None:
    event = InstallationConfigSetV1.model_validate(_with(secrets=None, config={}))
    assert event.secrets is None


def test_join_secrets_sets_dotted_paths_without_touching_the_input() -> None:
    from opscenter.contracts.config_schema import join_secrets

    public = {"db": {"host": "h"}, "region": "eu"}
    joined = join_secrets(public, {"db.password": "pw", "token": "t", "new.deep.key": 1})
    assert joined == {
        "db": {"host": "h", "password": "pw"},
        "region": "eu",
        "token": "t",
        "new": {"deep": {"key": 1}},
    }
    assert public == {"db": {"host": "h"}, "region": "eu"}
