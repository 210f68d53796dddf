"""Ops Center reviews service (see the service description in pyproject.toml)."""
