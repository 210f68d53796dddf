"""Opaque keyset cursors; the codec and its checks live in servicekit (`servicekit.cursors`)."""

from __future__ import annotations

from opscenter.servicekit.cursors import (
    decode_cursor,
    decode_time_id_cursor,
    encode_cursor,
    invalid_cursor,
)

__all__ = ["decode_cursor", "decode_time_id_cursor", "encode_cursor", "invalid_cursor"]
