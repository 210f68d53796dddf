"""Webhook signing secrets: generated here, shown once, stored only encrypted.

A secret is ``whsec_`` + base64 of 24 random bytes, the Standard Webhooks form the
``standardwebhooks`` library reads. At rest it is a Fernet ciphertext under a key derived from
``HOOKS_SECRET_KEY``; a stored ciphertext that does not decrypt is an operator error (the key
changed), reported as such, never silently skipped.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class SecretCipher:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a webhook secret does not decrypt with HOOKS_SECRET_KEY") from exc
