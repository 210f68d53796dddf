"""Sandboxed Python handlers: warm bubblewrap workers per plugin version, fed over a pipe.

The dispatcher uses only the names exported here (the interface agreed in the hooks brief):
``HandlerSpec``, ``HandlerOutcome``, ``Cause``, ``SandboxSettings`` and ``SandboxPool``; and
``STORAGE_PATH``, the folder a storage-granted handler sees (for the context's storage path).
"""

from opscenter.hooks.sandbox.pool import SandboxPool
from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.spec import STORAGE_PATH, Cause, HandlerOutcome, HandlerSpec

__all__ = [
    "STORAGE_PATH",
    "Cause",
    "HandlerOutcome",
    "HandlerSpec",
    "SandboxPool",
    "SandboxSettings",
]
