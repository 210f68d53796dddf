from opscenter.hooks.models import metadata
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.migrations import run_migrations

run_migrations(metadata, HooksSettings())
