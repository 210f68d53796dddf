"""Adds ``opscenter.contracts`` (from ``libs/contracts``) to a built wheel, so the SDK checks
manifests, events and config with the platform's own code. An editable install skips it: there
the workspace's ``opscenter-contracts`` is already importable, and a copy would shadow it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CONTRACTS = Path(__file__).resolve().parents[2] / "libs" / "contracts" / "src" / "opscenter"


class ContractsHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        build_data["force_include"][str(CONTRACTS / "contracts")] = "opscenter/contracts"
