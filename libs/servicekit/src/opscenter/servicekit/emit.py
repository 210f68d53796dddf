"""Emits one platform event on ``ops.platform``, as a platform service would (for trying the
suite by hand, the README's tour, an operator checking a tenant's deliveries):

    python -m opscenter.servicekit.emit device.created --tenant t1 [--data '{"name": "x"}']

The payload is the contracts' example of that event type with the tenant and ``--data``'s
fields laid over it, validated by its payload model; it is sent with the contracts'
``PlatformEventPublisher`` (the record every consumer expects) to
``OPSCENTER_KAFKA_BOOTSTRAP``. Prints the event's id and type.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import AIOKafkaProducer

from opscenter.contracts.events import payload_class
from opscenter.contracts.platform import PlatformEventPayload
from opscenter.contracts.publisher import PlatformEventPublisher
from opscenter.servicekit.settings import ServiceSettings


def payload(event_type: str, tenant: str, data: dict[str, object]) -> PlatformEventPayload:
    cls = payload_class(event_type)
    if not issubclass(cls, PlatformEventPayload):
        raise SystemExit(f"{event_type} is not a platform event")
    example = cls.example().model_dump()
    return cls.model_validate({**example, **data, "tenant_id": tenant})


async def emit(bootstrap: str, event: PlatformEventPayload, source: str) -> str:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        return (await PlatformEventPublisher(producer).publish(event, source=source)).id
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("type", help="device.created, user.login, tenant.created, ...")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--data", default="{}", help="JSON object laid over the example")
    parser.add_argument("--source", default="ops-center/emit")
    args = parser.parse_args()
    event = payload(args.type, args.tenant, json.loads(args.data))
    event_id = asyncio.run(emit(ServiceSettings().kafka_bootstrap, event, args.source))
    print(json.dumps({"id": event_id, "type": args.type, "tenant_id": args.tenant}))


if __name__ == "__main__":
    main()
