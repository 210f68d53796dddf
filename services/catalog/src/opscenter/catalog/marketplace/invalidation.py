"""Listing changes reach every API process's caches through Postgres ``LISTEN``/``NOTIFY``.

The rule: anything that changes what a listing may show (register, publish, update, ban, unban,
yank, deprecate, verify, feature, any write of ``plugins`` except the counters below) empties the
marketplace caches of every process as soon as the change commits.

- **Who notifies**: a trigger on ``plugins`` (migration ``catalog_0004``) runs
  ``pg_notify('catalog_listing', '')`` in the writing transaction, so it is delivered exactly
  when the write commits and never for a rolled-back one, whatever code path (or ``COPY``, or a
  hand-written ``UPDATE``) wrote the row. Updates that change only ``COUNTER_COLUMNS`` (rating
  summaries and install counts from Kafka, download counts, ``updated_at``) do not notify: they
  only reorder, and the search cache's TTL bounds how stale they may be.
- **Who listens**: each API process's ``servicekit.notify_cache.NotifyListener`` on ``CHANNEL``
  (built in ``caching.MarketplaceCaches``); while it is not listening the search cache is
  bypassed, and a write handled by this very process empties its caches before the answer
  leaves (``servicekit.notify_cache``).
"""

from __future__ import annotations

CHANNEL = "catalog_listing"
#: ``plugins`` columns whose change alone does not notify (see the trigger in catalog_0004).
COUNTER_COLUMNS = (
    "rating_average",
    "rating_count",
    "rating_bayesian",
    "rating_histogram",
    "install_count",
    "download_count",
    "search_boost",
    "updated_at",
)
