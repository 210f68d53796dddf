"""The web console explains each permission with the contracts package's own words: its
web/src/permissions.json is a copy of PERMISSION_DESCRIPTIONS, and this test fails when the two
part (a permission added to the contracts needs its line in the console)."""

from __future__ import annotations

import json

from opscenter.contracts.permissions import PERMISSION_DESCRIPTIONS
from opscenter.servicekit.migrations import REPO_ROOT


def test_the_console_describes_every_permission_as_the_contracts_do():
    console = json.loads((REPO_ROOT / "web" / "src" / "permissions.json").read_text())
    assert console == {str(name): text for name, text in PERMISSION_DESCRIPTIONS.items()}
