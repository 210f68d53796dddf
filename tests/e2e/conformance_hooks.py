"""Schemathesis hooks for test_api_conformance: the inputs a schema cannot describe.

A schema can say a cursor is a string, a package is bytes and an Idempotency-Key is a string,
not which strings a list returned, which bytes make an archive, or that a key is sent again only
with the same request; so a schema-valid but made-up cursor or package, or a key reused for
another body, is rightly refused (422) and positive_data_acceptance would call that a defect.
For cases generated as valid (positive mode) only, the hook drops a made-up cursor (the first
page is asked for), sends a real package instead of random bytes (without its made-up
signature), and gives each request a key of its own; invalid cases go out as generated. Cursors and archives are fuzzed by tests/e2e/test_untrusted_inputs.py and
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


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if not _positive(case):
        return
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    if isinstance(case.headers, dict) and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if case.operation.path.endswith("/plugins/upload") and isinstance(case.body, dict):
        plugin = case.body.get("plugin")
        slug = plugin if isinstance(plugin, str) and plugin else "conformance"
        case.body["package"] = package(manifest(slug[:64]))
        case.body.pop("signature", None)
        case.body.pop("key_id", None)
