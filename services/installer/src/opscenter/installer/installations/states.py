"""Which installation states count for what: each set is named once, here."""

from __future__ import annotations

from opscenter.contracts import InstallationState
from opscenter.contracts.lifecycle import RESUMABLE_STATES

#: States in which an installation holds a version in its tenant: its constraints count in a
#: plan, and its package is in use.
LIVE_STATES = frozenset(
    {
        InstallationState.INSTALLING,
        InstallationState.INSTALLED,
        InstallationState.ENABLED,
        InstallationState.DISABLED,
        InstallationState.UPDATING,
        InstallationState.UNINSTALLING,
    }
)

#: Live dependents an uninstall must say what happens to (one uninstalling already needs nothing).
UNINSTALL_BLOCKERS = LIVE_STATES - {InstallationState.UNINSTALLING}

#: At rest with a version in place (installed, enabled or disabled): what a ban disables, and
#: what an upgrade starts from and returns to.
SETTLED_STATES = RESUMABLE_STATES

#: States from which a plugin may be installed (again).
INSTALLABLE_STATES = frozenset({InstallationState.UNINSTALLED, InstallationState.FAILED})
