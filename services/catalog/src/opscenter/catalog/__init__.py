"""Catalog: publishers, plugins, versions, signed packages, search, featured lists, moderation."""
