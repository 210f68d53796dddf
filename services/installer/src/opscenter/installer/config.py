"""Tenant configuration of an installation: JSON Schema validation and secrets at rest.

Invariants: a config is valid against its version's ``config_schema`` (Draft 2020-12) before it
is stored; fields the schema marks secret are stored only encrypted (Fernet, key derived from
``INSTALLER_SECRET_KEY``), are answered as ``********`` and never appear in logs; in events they
appear only sealed to the hooks service's public key (``for_hooks``, ADR 0024); a write that
omits a secret (or sends the mask back) keeps the stored one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from opscenter.contracts import SealedConfigSecrets

# validate_config lives in contracts so the SDK's harness checks config with the same code.
from opscenter.contracts.config_schema import (
    SECRET_MASK,
    join_secrets,
    mask_config,
    secret_fields,
    validate_config,
)
from opscenter.servicekit import sealing

__all__ = [
    "ConfigCipher",
    "merge_for_update",
    "public_view",
    "split_secrets",
    "validate_config",
]


def _get(config: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _pop(config: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = config
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def split_secrets(
    schema: Mapping[str, Any] | None, config: Mapping[str, Any], also: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(public, secrets)``: the config without its secret fields, and ``{path: value}``.
    ``also`` names paths kept secret whatever the schema says (those stored secret already: an
    upgrade whose schema stops marking a field never puts its value in clear)."""
    public = copy.deepcopy(dict(config))
    secrets: dict[str, Any] = {}
    for path in sorted(secret_fields(schema or {}) | set(also)):
        found, value = _get(config, path)
        if found:
            secrets[path] = value
            _pop(public, path)
    return public, secrets


join = join_secrets


def merge_for_update(
    schema: Mapping[str, Any] | None,
    stored_public: Mapping[str, Any],
    stored_secrets: Mapping[str, Any],
    new: Mapping[str, Any],
) -> dict[str, Any]:
    """The full config a PUT means: ``new`` as given, plus every stored secret it omitted or
    sent back masked (secrets are write-only, so clients cannot echo them)."""
    kept = {}
    for path in secret_fields(schema or {}):
        found, value = _get(new, path)
        if (not found or value == SECRET_MASK) and path in stored_secrets:
            kept[path] = stored_secrets[path]
    return join_secrets(new, kept)


def public_view(
    schema: Mapping[str, Any] | None, public: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, Any]:
    """What the API answers: the config with every secret that is set shown as the mask."""
    return mask_config(join(public, dict.fromkeys(secrets, SECRET_MASK)), schema or {})


class ConfigCipher:
    """Fernet (AES-128-CBC + HMAC) over the JSON of the secret fields, at rest; and the same
    JSON sealed to the hooks service's public key, for ``config_set`` events."""

    def __init__(self, secret: str, hooks_public_key: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)
        self._hooks_key = hooks_public_key
        self._hooks_key_id = sealing.key_id(hooks_public_key)

    def for_hooks(
        self, installation_id: uuid.UUID, secrets: Mapping[str, Any]
    ) -> SealedConfigSecrets | None:
        """``secrets`` (``{path: value}``) sealed to hooks, bound to the installation (the
        associated data); None when there is none."""
        if not secrets:
            return None
        plain = json.dumps(dict(secrets), sort_keys=True, separators=(",", ":")).encode()
        return SealedConfigSecrets(
            algorithm=sealing.ALGORITHM,
            key_id=self._hooks_key_id,
            paths=sorted(secrets),
            box=sealing.seal(self._hooks_key, plain, str(installation_id).encode()),
        )

    def encrypt(self, secrets: Mapping[str, Any]) -> str | None:
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("stored secrets do not decrypt with INSTALLER_SECRET_KEY") from exc
        return data
