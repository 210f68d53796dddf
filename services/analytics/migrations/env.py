from opscenter.analytics.models import metadata
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.migrations import run_migrations

run_migrations(metadata, AnalyticsSettings())
