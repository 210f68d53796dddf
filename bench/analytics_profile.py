"""Where the analytics metrics consumer's time goes: cProfile over ``EventConsumer.process`` of
every batch while it ingests N events (as ``bench/analytics.py`` does), top functions by own
time and the share of the batch statements.

    eval "$(deploy/local/stack.sh env dev)"; cd bench; uv run python analytics_profile.py
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import uuid

import analytics
from analytics import _events, _produce

from opscenter.contracts import Topic
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.testing import LocalStack


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    stack = LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )
    topic = Topic(f"bench.analytics.{uuid.uuid4().hex[:8]}", key="plugin id", partitions=6)
    await ensure_topics(stack.kafka_bootstrap, [topic])
    await _produce(stack.kafka_bootstrap, topic.name, _events(args.events, plugins=1000))
    gc.collect()
    gc.freeze()  # as the worker does after its imports
    prof = cProfile.Profile()
    original = EventConsumer.process

    async def profiled(self, records):  # type: ignore[no-untyped-def]
        prof.enable()
        try:
            await original(self, records)
        finally:
            prof.disable()

    EventConsumer.process = profiled  # type: ignore[method-assign]
    rate = await analytics.analytics_consumer(stack, topic.name, args.events, 2000)
    print(f"{rate:.0f} events/s under cProfile (profile covers process() of every batch)")
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


if __name__ == "__main__":
    asyncio.run(main())
