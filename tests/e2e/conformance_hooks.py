"""Schemathesis hooks for test_api_conformance: the inputs a schema cannot describe.

A schema can say a cursor is a string, a package is bytes and an Idempotency-Key is a string,
not which strings a list returned, which bytes make an archive, or that a key is sent again only
with the same request; so a schema-valid but made-up cursor or package, or a key reused for
another body, is rightly refused (422) and positive_data_acceptance would call that a defect.
For cases generated as valid (positive mode) only, the hook drops a made-up cursor (the first
page is asked for), sends a real package instead of random bytes (without its made-up
signature); a well-formed key is made unique for every case; invalid cases go out as generated.
Cursors and archives are fuzzed by tests/e2e/test_untrusted_inputs.py and
test_publishing_hardening.py instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from opscenter.catalog.testing import manifest, package


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _drops_a_parameter(case: Any) -> bool:
    """A coverage case that leaves a parameter (or the Authorization header) out on purpose: it
    goes out untouched, as editing it would bring back what it left out."""
    phase = getattr(getattr(case, "meta", None), "phase", None)
    scenario = getattr(getattr(phase, "data", None), "scenario", None)
    return scenario is not None and "missing" in str(scenario).lower()


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if _drops_a_parameter(case):
        return
    # A key as the schema allows it (1-255 characters) becomes one of its own, in any mode: an
    # invalid case sent with a valid key may still be accepted and claim it.
    # In place: case.headers is a case-insensitive mapping schemathesis keeps its own marks in.
    key = case.headers.get("Idempotency-Key") if case.headers is not None else None
    if isinstance(key, str) and 1 <= len(key) <= 255:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if not _positive(case):
        return
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in dict(case.query).items() if k != "cursor"}
    if case.operation.path.endswith("/plugins/upload") and hasattr(case.body, "get"):
        plugin = case.body.get("plugin")
        slug = plugin if isinstance(plugin, str) and plugin else "conformance"
        body = {k: v for k, v in dict(case.body).items() if k not in ("signature", "key_id")}
        case.body = {**body, "package": package(manifest(slug[:64]))}
