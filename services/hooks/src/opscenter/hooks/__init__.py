"""Ops Center hooks service (see the service description in pyproject.toml)."""
