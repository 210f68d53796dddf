from opscenter.installer.models import metadata
from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.migrations import run_migrations

run_migrations(metadata, InstallerSettings())
