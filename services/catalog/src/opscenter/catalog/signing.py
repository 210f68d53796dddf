"""Ed25519 package signatures.

A publisher registers public keys (raw 32 bytes, given as base64 or as a PEM
``SubjectPublicKeyInfo``); a package's signature is ed25519 over the RAW 32-byte sha-256 digest of
the package bytes (not its hex form), base64-encoded (64 bytes). See ADR 0004.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class InvalidPublicKey(ValueError):
    """A public key that is not an ed25519 key in an accepted encoding."""


#: Encodings of the points of small order (1, 2, 4, 8), sign bit cleared, as libsodium lists
#: them: a key among them verifies signatures no private key made (every eighth message or
#: more takes the all-identity signature), so none is registered. Includes p, p-1 and p+1,
#: non-canonical encodings of the same points.
SMALL_ORDER_KEYS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def _small_order(raw: bytes) -> bool:
    return raw[:31] + bytes([raw[31] & 0x7F]) in SMALL_ORDER_KEYS


def parse_public_key(text: str) -> bytes:
    """The raw 32-byte ed25519 public key from base64 of the raw key, or from PEM."""
    value = text.strip()
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(value.encode())
        except (ValueError, TypeError) as exc:
            raise InvalidPublicKey("is not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidPublicKey("is not an ed25519 key (only ed25519 is accepted)")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if _small_order(raw):
            raise InvalidPublicKey("is a small-order point, not a usable ed25519 key")
        return raw
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPublicKey(
            "must be base64 of the raw 32-byte key, or a PEM public key"
        ) from exc
    if len(raw) != 32:
        raise InvalidPublicKey(f"must decode to 32 bytes (an ed25519 key), got {len(raw)}")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidPublicKey("is not a valid ed25519 public key") from exc
    if _small_order(raw):
        raise InvalidPublicKey("is a small-order point, not a usable ed25519 key")
    return raw


def fingerprint(raw_key: bytes) -> str:
    """The sha-256 (hex) of the raw key, as shown to publishers."""
    return hashlib.sha256(raw_key).hexdigest()


def decode_signature(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64") from exc
    if len(raw) != 64:
        raise ValueError(f"must be a 64-byte ed25519 signature, got {len(raw)} bytes")
    return raw


def verifies(raw_key: bytes, signature: bytes, digest: bytes) -> bool:
    """Whether ``signature`` is ed25519 by ``raw_key`` over the raw sha-256 ``digest``."""
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, digest)
    except (InvalidSignature, ValueError):
        return False
    return True
