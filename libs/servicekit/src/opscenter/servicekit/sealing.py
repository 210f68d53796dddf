"""Sealed boxes: bytes one service encrypts so that only the holder of a private key opens them.

Used for an installation's secret config values, which the installer seals to the hooks
service's public key before they go on Kafka (ADR 0024). The construction is an ECIES/HPKE-like
"base mode" with a fresh key per box:

- an ephemeral X25519 key pair; ``shared = X25519(ephemeral, recipient)``;
- ``HKDF-SHA256(shared, salt = ephemeral_pub || recipient_pub, info = INFO)`` gives a 32-byte
  ChaCha20-Poly1305 key and its 12-byte nonce (the key is used once, so a derived nonce is safe);
- the caller's associated data (an installation id) is authenticated, not encrypted: a box
  opened under any other associated data fails, so a box cannot be moved to another record.

A box is the text ``v1.`` + base64url(ephemeral_pub || ciphertext || tag), without padding.
Keys travel as standard base64 of their 32 raw bytes. ``key_id`` (16 hex characters of the
public key's sha-256) names the recipient key a box was sealed to, so a mismatch is reported as
such rather than as a corrupt box.

``python -m opscenter.servicekit.sealing keygen`` prints a new pair for an operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ALGORITHM",
    "DEV_PRIVATE_KEY",
    "DEV_PUBLIC_KEY",
    "Opener",
    "SealError",
    "generate_keypair",
    "key_id",
    "public_key_of",
    "seal",
]

#: The construction's name, carried next to every box so a successor can be told apart.
ALGORITHM = "x25519-hkdf-sha256-chacha20poly1305"
INFO = b"opscenter sealed box v1"
_PREFIX = "v1."
_KEY_LEN = 32


class SealError(ValueError):
    """A key that is not a key, or a box that does not open (wrong key, associated data or
    bytes). The message never contains key material or plaintext."""


def _raw_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SealError(f"{what} is not base64") from None
    if len(raw) != _KEY_LEN:
        raise SealError(f"{what} must be {_KEY_LEN} bytes, got {len(raw)}")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _private(text: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_raw_key(text, "the private key"))


def public_key_of(private_key: str) -> str:
    """The base64 public key of a base64 private key."""
    return _b64(_private(private_key).public_key().public_bytes_raw())


def key_id(public_key: str) -> str:
    """16 hex characters naming ``public_key`` (not secret)."""
    return hashlib.sha256(_raw_key(public_key, "the public key")).hexdigest()[:16]


def generate_keypair() -> tuple[str, str]:
    """A new ``(private, public)`` pair, base64."""
    private = X25519PrivateKey.generate()
    return _b64(private.private_bytes_raw()), _b64(private.public_key().public_bytes_raw())


def _key_and_nonce(shared: bytes, ephemeral: bytes, recipient: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(
        algorithm=hashes.SHA256(), length=32 + 12, salt=ephemeral + recipient, info=INFO
    ).derive(shared)
    return okm[:32], okm[32:]


def seal(public_key: str, plaintext: bytes, associated_data: bytes) -> str:
    """A box only the holder of ``public_key``'s private key opens, under the same
    ``associated_data``."""
    recipient_pub = _raw_key(public_key, "the public key")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_pub))
    key, nonce = _key_and_nonce(shared, ephemeral_pub, recipient_pub)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated_data)
    return _PREFIX + base64.urlsafe_b64encode(ephemeral_pub + sealed).decode().rstrip("=")


class Opener:
    """Opens boxes sealed to one private key."""

    def __init__(self, private_key: str) -> None:
        self._private = _private(private_key)
        self._public = self._private.public_key().public_bytes_raw()
        self.key_id = key_id(_b64(self._public))

    def open(self, box: str, associated_data: bytes) -> bytes:
        if not box.startswith(_PREFIX):
            raise SealError("not a v1 sealed box")
        body = box[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealError("the sealed box is not base64url") from None
        if len(raw) < _KEY_LEN + 16:
            raise SealError("the sealed box is too short")
        ephemeral_pub, sealed = raw[:_KEY_LEN], raw[_KEY_LEN:]
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral_pub))
        except ValueError:
            raise SealError("the sealed box's ephemeral key is invalid") from None
        key, nonce = _key_and_nonce(shared, ephemeral_pub, self._public)
        try:
            return ChaCha20Poly1305(key).decrypt(nonce, sealed, associated_data)
        except InvalidTag:
            raise SealError(
                "the sealed box does not open with this key and associated data"
            ) from None


# Local and test runs only (production settings refuse them): a fixed pair anyone can derive,
# so a dev installer and a dev hooks service agree without configuration.
DEV_PRIVATE_KEY = _b64(hashlib.sha256(b"opscenter dev-only config sealing key").digest())
DEV_PUBLIC_KEY = public_key_of(DEV_PRIVATE_KEY)


def main(argv: list[str]) -> int:
    if argv != ["keygen"]:
        print("usage: python -m opscenter.servicekit.sealing keygen", file=sys.stderr)
        return 2
    private, public = generate_keypair()
    print(f"private_key={private}\npublic_key={public}\nkey_id={key_id(public)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
