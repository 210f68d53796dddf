"""Ops Center analytics service (see the service description in pyproject.toml)."""
