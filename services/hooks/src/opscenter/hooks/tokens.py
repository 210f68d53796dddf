"""Installation tokens: short-lived JWTs a plugin presents to the platform's API.

A token names one installation (``sub``), its tenant and plugin, and carries as ``scope``
exactly the installation's granted ``api:*`` permissions (nothing else: ``storage:*`` and the
like mean nothing to the API). It is signed with Ed25519 (``EdDSA``); the public key is
published as a JWKS (``GET /api/v1/hooks/jwks.json``) for the platform's services to verify it.
The key comes from ``HOOKS_TOKEN_SIGNING_SEED`` (32 bytes are derived from it), so every hooks
process signs with the same key; production must set its own seed.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "opscenter-hooks"
AUDIENCE = "opscenter-api"
HEADER = "x-opscenter-installation-token"


class InstallationTokens:
    def __init__(self, seed: str, ttl_s: int) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())
        self.ttl_s = ttl_s
        public = OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.key_id = hashlib.sha256(str(public["x"]).encode()).hexdigest()[:16]
        self._jwk = {**public, "kid": self.key_id, "alg": "EdDSA", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}

    def mint(
        self,
        installation_id: uuid.UUID,
        tenant_id: str,
        plugin_id: uuid.UUID,
        granted: Iterable[str],
        now: float | None = None,
    ) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"installation:{installation_id}",
            "tenant_id": tenant_id,
            "plugin_id": str(plugin_id),
            "scope": " ".join(sorted(p for p in set(granted) if p.startswith("api:"))),
            "iat": issued,
            "exp": issued + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id})
