"""The service's transition wrapper over the contracts' state machine, and config handling."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opscenter.contracts import TRANSITIONS, InstallationAction, InstallationState
from opscenter.installer.config import (
    ConfigCipher,
    merge_for_update,
    public_view,
    split_secrets,
    validate_config,
)
from opscenter.installer.installations.service.transitions import transition
from opscenter.installer.models import Installation, InstallationHistory
from opscenter.servicekit.errors import Problem
from opscenter.servicekit.sealing import DEV_PRIVATE_KEY, DEV_PUBLIC_KEY, Opener, generate_keypair


class FakeSession:
    """Collects what ``transition`` adds; flush does nothing (no database in unit tests)."""

    def __init__(self) -> None:
        self.added: list[object] = []

    def add(self, row: object) -> None:
        self.added.append(row)

    async def flush(self) -> None:
        return None


def installation(state: InstallationState) -> Installation:
    return Installation(
        id=uuid.uuid4(),
        tenant_id="t",
        plugin_id=uuid.uuid4(),
        slug="demo",
        version="1.0.0",
        state=state.value,
        sequence=0,
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(InstallationAction)), st.sampled_from(list(InstallationState))
        ),
        max_size=20,
    )
)
async def test_every_transition_is_legal_and_numbered(steps):
    session = FakeSession()
    inst = installation(InstallationState.AVAILABLE)
    for action, previous in steps:
        before = inst.state
        legal = (InstallationState(before), action) in TRANSITIONS
        refused: Problem | None = None
        try:
            await transition(session, inst, action, actor="u", previous=previous)  # type: ignore[arg-type]
        except Problem as problem:
            refused = problem
        if refused is not None:
            assert not legal or action in {
                InstallationAction.UPGRADE_SUCCEEDED,
                InstallationAction.UPGRADE_FAILED,
            }
            assert refused.status == 409
            assert refused.extra["current_state"] == before
            assert inst.state == before
            continue
        assert legal
        assert inst.state in TRANSITIONS[(InstallationState(before), action)]
    rows = [r for r in session.added if isinstance(r, InstallationHistory)]
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    assert inst.sequence == len(rows)
    for earlier, later in itertools.pairwise(rows):
        assert earlier.to_state == later.from_state


async def test_failed_upgrade_returns_to_the_previous_state():
    session = FakeSession()
    inst = installation(InstallationState.ENABLED)
    await transition(session, inst, InstallationAction.UPGRADE_REQUESTED, actor="u")  # type: ignore[arg-type]
    assert inst.state == "updating"
    await transition(  # type: ignore[arg-type]
        session,
        inst,
        InstallationAction.UPGRADE_FAILED,
        actor=None,
        previous=InstallationState.ENABLED,
    )
    assert inst.state == "enabled"


SCHEMA = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "format": "password"},
        "db": {
            "type": "object",
            "properties": {
                "password": {"type": "string", "writeOnly": True},
                "host": {"type": "string"},
            },
            "required": ["host"],
        },
        "retries": {"type": "integer", "maximum": 5},
    },
    "required": ["token"],
    "additionalProperties": False,
}


def test_config_errors_name_field_paths():
    errors = validate_config(SCHEMA, {"db": {}, "retries": 9, "extra": 1})
    assert {e["field"] for e in errors} == {
        "config.token",
        "config.db.host",
        "config.retries",
        "config.extra",
    }


def test_secrets_split_encrypt_mask_and_survive_updates():
    # Long enough that it cannot turn up in the token's base64 by chance (a 3-letter one did).
    secret = "t0p-secret-value-0123456789"
    cipher = ConfigCipher("k", DEV_PUBLIC_KEY)
    public, secrets = split_secrets(
        SCHEMA, {"token": secret, "db": {"password": "pw", "host": "h"}}
    )
    assert public == {"db": {"host": "h"}}
    assert secrets == {"token": secret, "db.password": "pw"}
    token = cipher.encrypt(secrets)
    assert token is not None
    assert secret not in token
    assert cipher.decrypt(token) == secrets
    assert public_view(SCHEMA, public, secrets) == {
        "token": "********",
        "db": {"host": "h", "password": "********"},
    }
    merged = merge_for_update(SCHEMA, public, secrets, {"token": "********", "db": {"host": "x"}})
    assert merged == {"token": secret, "db": {"host": "x", "password": "pw"}}
    with pytest.raises(ValueError, match="do not decrypt"):
        ConfigCipher("other", DEV_PUBLIC_KEY).decrypt(token)


def test_secrets_for_hooks_are_sealed_to_its_key_and_bound_to_the_installation():
    secret = "t0p-secret-value-0123456789"
    private, public = generate_keypair()
    installation_id = uuid.uuid4()
    sealed = ConfigCipher("k", public).for_hooks(installation_id, {"token": secret, "db.pw": "x"})
    assert sealed is not None
    assert secret not in sealed.model_dump_json()
    assert sealed.paths == ["db.pw", "token"]
    opened = Opener(private).open(sealed.box, str(installation_id).encode())
    assert json.loads(opened) == {"token": secret, "db.pw": "x"}
    with pytest.raises(ValueError, match="does not open"):
        Opener(DEV_PRIVATE_KEY).open(sealed.box, str(installation_id).encode())
    assert ConfigCipher("k", public).for_hooks(installation_id, {}) is None


def test_a_field_stored_secret_stays_secret_when_a_new_schema_stops_marking_it():
    public, secrets = split_secrets({"type": "object"}, {"token": "s", "host": "h"}, ["token"])
    assert (public, secrets) == ({"host": "h"}, {"token": "s"})


def test_production_refuses_the_dev_keys_and_a_malformed_hooks_key():
    from pydantic import ValidationError

    from opscenter.installer.settings import InstallerSettings

    strong = "x" * 40
    _, hooks_key = generate_keypair()
    issued = {"jwt_secret": strong, "jwt_audience": "api", "jwt_issuer": "https://id.example"}
    with pytest.raises(ValidationError, match="secret_key"):
        InstallerSettings(environment="production", hooks_config_public_key=hooks_key, **issued)
    with pytest.raises(ValidationError, match="hooks_config_public_key"):
        InstallerSettings(environment="production", secret_key=strong, **issued)
    with pytest.raises(ValidationError, match="not base64"):
        InstallerSettings(hooks_config_public_key="not a key!")
    s = InstallerSettings(
        environment="production", secret_key=strong, hooks_config_public_key=hooks_key, **issued
    )
    assert s.hooks_config_public_key == hooks_key
