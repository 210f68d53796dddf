"""Sandboxed Python handlers: warm bubblewrap workers per plugin version, fed over a pipe.

The dispatcher uses only the names exported here (the interface agreed in the hooks brief):
``HandlerSpec``, ``HandlerOutcome``, ``Cause``, ``SandboxSettings`` and ``SandboxPool``.
"""

from opscenter.hooks.sandbox.pool import SandboxPool
from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.spec import Cause, HandlerOutcome, HandlerSpec

__all__ = ["Cause", "HandlerOutcome", "HandlerSpec", "SandboxPool", "SandboxSettings"]
