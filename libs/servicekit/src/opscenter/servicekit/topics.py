"""Creates every topic the contracts name (and its dead-letter topic). Run by `make up` and
`make test`; services also run it at start-up, so the order of start-up does not matter."""

from __future__ import annotations

import asyncio

from opscenter.contracts import ALL_TOPICS
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.settings import ServiceSettings


def main() -> None:
    settings = ServiceSettings()
    replication = settings.kafka_topic_replication
    asyncio.run(ensure_topics(settings.kafka_bootstrap, ALL_TOPICS, replication=replication))
    print(
        f"kafka topics ready on {settings.kafka_bootstrap}: {', '.join(t.name for t in ALL_TOPICS)}"
    )


if __name__ == "__main__":
    main()
