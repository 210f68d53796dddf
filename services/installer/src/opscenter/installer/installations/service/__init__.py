"""Installations of a tenant, one module per purpose:

- ``planning``: the install request (resolve the dependency plan, price, check, record it);
- ``executor``: the worker's side (carry out installs, upgrades and uninstalls);
- ``actions``: a tenant's enable, disable, uninstall, config and upgrade, and the ban of a plugin;
- ``views``: what the API shows of installations (one, or a page);
- ``transitions``: how a state changes (``transition``, ``Moves``) and the shared refusals;
- ``context``: ``TenantAction``, what every tenant action is given.

Every change to a tenant's installations first locks the tenant's plan row, so two plans of one
tenant never interleave, and every state change writes a history row and emits its event in
the same transaction.
"""

from opscenter.installer.installations.service.actions import (
    ban,
    disable,
    enable,
    uninstall,
    update_config,
    upgrade,
)
from opscenter.installer.installations.service.context import TenantAction
from opscenter.installer.installations.service.executor import (
    Executor,
    execute_installs,
    execute_uninstall,
    execute_upgrade,
)
from opscenter.installer.installations.service.planning import install
from opscenter.installer.installations.service.transitions import transition
from opscenter.installer.installations.service.views import get_one, list_page

__all__ = [
    "Executor",
    "TenantAction",
    "ban",
    "disable",
    "enable",
    "execute_installs",
    "execute_uninstall",
    "execute_upgrade",
    "get_one",
    "install",
    "list_page",
    "transition",
    "uninstall",
    "update_config",
    "upgrade",
]
