from opscenter.reviews.models import metadata
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.migrations import run_migrations

run_migrations(metadata, ReviewsSettings())
