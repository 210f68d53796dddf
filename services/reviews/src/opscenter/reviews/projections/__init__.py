"""Projections of the catalog's plugins and the installer's installations."""
