"""End-to-end tests drive the whole suite through the nginx gateway, as users would.

`gateway_url` (tests/conftest.py) brings up the `test` instance of the suite with
`deploy/local/suite.py`; `gateway` is a client of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def gateway(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client
