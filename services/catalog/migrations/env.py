from opscenter.catalog.models import metadata
from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.migrations import run_migrations

run_migrations(metadata, CatalogSettings())
