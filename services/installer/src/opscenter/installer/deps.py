"""Typed FastAPI dependencies of the installer's endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from opscenter.installer.config import ConfigCipher
from opscenter.servicekit.auth import Principal, Role, require_roles


async def get_cipher(request: Request) -> ConfigCipher:
    cipher: ConfigCipher = request.app.state.cipher
    return cipher


CipherDep = Annotated[ConfigCipher, Depends(get_cipher)]
TenantAdmin = Annotated[Principal, Depends(require_roles(Role.TENANT_ADMIN))]
# A tenant admin holds the member role too (servicekit.auth).
Member = Annotated[Principal, Depends(require_roles(Role.MEMBER))]
PlatformAdmin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN))]
PluginRef = Annotated[
    str,
    Path(min_length=1, max_length=64, description="The plugin's UUID or slug"),
]
