"""Ops Center installer service (see the service description in pyproject.toml)."""
