"""Event consumers that apply each event exactly once to the service's database.

A batch of records is applied in one transaction, each event guarded by the inbox; the Kafka
offsets are committed only after that transaction commits (FastStream acks after the handler
returns). When the batch fails, each event is retried alone so one poison message cannot hold
back the others; an event that still fails after `max_attempts`, or that cannot be parsed at all,
goes to `<topic>.dlq` with the error, and the consumer moves on. A record over `max_bytes`, or
one the consumer's `reject` check refuses, goes there at once, before any transaction: a bad
message does not get better with retries. Infrastructure failures
(database or broker unreachable) are not the message's fault: they are raised, FastStream rewinds
the batch, and it is read again once the dependency is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from prometheus_client import Counter, Histogram
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opscenter.contracts import CloudEvent, ContractError, parse_typed_event
from opscenter.servicekit.inbox import Inbox
from opscenter.servicekit.outbox import BATCH_TRACES

log = logging.getLogger(__name__)
tracer = trace.get_tracer("opscenter.servicekit.consumer")

EventHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
BatchEventHandler = Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]

APPLIED = Counter("consumer_events_applied_total", "Events applied", ["consumer", "topic"])
DUPLICATES = Counter(
    "consumer_events_duplicate_total", "Redeliveries skipped", ["consumer", "topic"]
)
DEAD_LETTERED = Counter(
    "consumer_events_dead_lettered_total", "Records sent to a DLQ", ["consumer", "topic"]
)
BATCH_SECONDS = Histogram(
    "consumer_batch_duration_seconds",
    "One transaction of a consumer: inbox claims and handlers, until the commit",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REJECTED = Counter(
    "consumer_events_rejected_total",
    "Records dead-lettered before any attempt, by reason",
    ["consumer", "reason"],
)

#: A check of one parsed event before it is applied: a reason to refuse it, or None.
RejectCheck = Callable[[CloudEvent], "str | None"]


class DeadLetterSink(Protocol):
    async def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None: ...


def is_transient(exc: BaseException) -> bool:
    """Errors that say a dependency is down, not that the message is bad."""
    if isinstance(
        exc, OperationalError | InterfaceError | ConnectionError | TimeoutError | OSError
    ):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass
class EventConsumer:
    """One purpose of one service: consumer group `name` (`<service>.<purpose>`) on `topics`."""

    name: str
    topics: Sequence[str]
    handler: EventHandler | None
    sessions: async_sessionmaker[AsyncSession]
    inbox: Inbox
    dead_letter: DeadLetterSink
    max_attempts: int = 3
    retry_backoff_s: float = 0.2
    # Optional: receives every fresh event of a batch at once, in order, after `handler` would
    # have; for consumers whose effect is a bulk write (counters, projections).
    batch_handler: BatchEventHandler | None = None
    # Optional: the event types this consumer acts on. A record of another type is passed over
    # before its body is parsed (its `ce_type` header says what it is): it has no effect, so it
    # needs no inbox claim either. None: every type.
    types: frozenset[str] | None = None
    # Optional: records whose value is longer are dead-lettered unparsed ("oversized").
    max_bytes: int | None = None
    # Optional: refuses an event for good (see `RejectCheck`); the reason is the DLQ's error.
    reject: RejectCheck | None = None
    # Optional: what the inbox remembers an event by (default its `id`); at most 64 characters.
    dedupe_key: Callable[[CloudEvent], str] | None = None
    # Optional: a record whose `ce_type` header names a registered type is validated with its
    # payload in one pass (`parse_typed_event`); the events handed on hold their payload, which
    # `parse_payload` returns as is. A record that pass refuses takes the usual path, so bad
    # events are refused (and dead-lettered) exactly as without it. For hot consumers that
    # parse every payload; needs `types`.
    typed_payloads: bool = False
    # One INFO line per applied event (the settings' `log_events`).
    log_events: bool = False

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("an EventConsumer needs exactly one of handler or batch_handler")
        if self.typed_payloads and self.types is None:
            raise ValueError("typed_payloads needs the consumer's types")

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        events: list[tuple[ConsumerRecord[Any, Any], CloudEvent]] = []
        for record in records:
            labelled = _header(record, "ce_type") if self.types is not None else None
            if labelled is not None and self.types is not None and labelled not in self.types:
                continue  # another type: no effect, so neither parsed nor claimed
            size = len(record.value or b"")
            if self.max_bytes is not None and size > self.max_bytes:
                await self._refuse(record, "oversized", f"{size} bytes > {self.max_bytes}")
                continue
            typed = (
                parse_typed_event(record.value, labelled)
                if self.typed_payloads and labelled is not None
                else None
            )
            try:
                event = typed or CloudEvent.from_json_bytes(record.value)
            except (ContractError, ValueError) as exc:
                REJECTED.labels(self.name, "not-a-cloudevent").inc()
                await self._dead_letter(record, exc)
                continue
            if self.types is not None and event.type not in self.types:
                continue
            reason = self.reject(event) if self.reject is not None else None
            if reason is not None:
                await self._refuse(record, reason.split(":", 1)[0], reason)
                continue
            events.append((record, event))
        if not events:
            return
        try:
            await self._apply(events)
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(events) == 1:
                await self._retry_alone(*events[0], first_error=exc)
                return
            log.warning("batch failed, retrying events one by one", extra={"error": repr(exc)})
        for record, event in events:
            await self._retry_alone(record, event, first_error=None)

    async def _apply(self, events: Sequence[tuple[ConsumerRecord[Any, Any], CloudEvent]]) -> None:
        started = time.perf_counter()
        async with self.sessions() as session, session.begin():
            # One event id twice in a batch (a relay's redelivery) is applied once: the first wins.
            key = self.dedupe_key or _event_id
            ids = list(dict.fromkeys(key(event) for _, event in events))
            fresh = await self.inbox.claim_many(session, ids, self.name)
            applied: list[tuple[ConsumerRecord[Any, Any], CloudEvent]] = []
            for record, event in events:
                if key(event) not in fresh:
                    DUPLICATES.labels(self.name, record.topic).inc()
                    continue
                fresh.discard(key(event))
                applied.append((record, event))
            if applied:
                await self._handle(session, applied)
        for record, _ in applied:
            APPLIED.labels(self.name, record.topic).inc()
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _handle(
        self, session: AsyncSession, applied: Sequence[tuple[ConsumerRecord[Any, Any], CloudEvent]]
    ) -> None:
        """Applies fresh events, each in a span of its own that continues the trace its record
        carries. A handler receives an event whose `traceparent` is that span, so whatever it
        stores to be continued later (hooks' deliveries) continues from this consumer."""
        if self.handler is not None:
            for record, event in applied:
                with tracer.start_as_current_span(
                    f"{self.name} {event.type}",
                    context=_incoming_context(record, event),
                    kind=trace.SpanKind.CONSUMER,
                    attributes=_span_attributes(record, event),
                ) as span:
                    self._log_applied(event)
                    await self.handler(session, _continued(event, span))
            return
        assert self.batch_handler is not None
        spans = [
            tracer.start_span(
                f"{self.name} {event.type}",
                context=_incoming_context(record, event),
                kind=trace.SpanKind.CONSUMER,
                attributes=_span_attributes(record, event),
            )
            for record, event in applied
        ]
        try:
            pairs = zip(applied, spans, strict=True)
            handed = [_continued(event, span) for (_, event), span in pairs]
            for span, event in zip(spans, handed, strict=True):
                with trace.use_span(span):
                    self._log_applied(event)
            if len(spans) == 1:
                with trace.use_span(spans[0]):
                    await self.batch_handler(session, handed)
                return
            # Several traces in one batch: the batch's own span links them, and an event the
            # handler emits continues the trace of the batch's event with the same Kafka key
            # (`outbox.BATCH_TRACES`), so each aggregate's follow-ups stay in its own trace.
            by_key = {
                record.key.decode(errors="replace"): event.traceparent
                for (record, _), event in zip(applied, handed, strict=True)
                if record.key is not None and event.traceparent is not None
            }
            token = BATCH_TRACES.set(by_key)
            try:
                with tracer.start_as_current_span(
                    f"{self.name} batch",
                    kind=trace.SpanKind.CONSUMER,
                    links=[trace.Link(span.get_span_context()) for span in spans],
                    attributes={"messaging.batch.message_count": len(spans)},
                ):
                    await self.batch_handler(session, handed)
            finally:
                BATCH_TRACES.reset(token)
        except BaseException as exc:
            for span in spans:
                span.set_status(trace.Status(trace.StatusCode.ERROR, repr(exc)[:200]))
            raise
        finally:
            for span in spans:
                span.end()

    def _log_applied(self, event: CloudEvent) -> None:
        if self.log_events:
            log.info(
                "event applied",
                extra={"consumer": self.name, "event_id": event.id, "event_type": event.type},
            )

    async def _retry_alone(
        self,
        record: ConsumerRecord[Any, Any],
        event: CloudEvent,
        first_error: BaseException | None,
    ) -> None:
        error = first_error
        attempts = 1 if first_error is not None else 0
        while attempts < self.max_attempts:
            if attempts:
                await asyncio.sleep(self.retry_backoff_s * 2 ** (attempts - 1))
            attempts += 1
            try:
                await self._apply([(record, event)])
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                error = exc
        assert error is not None
        log.error(
            "event failed %s times, dead-lettered",
            attempts,
            extra={"consumer": self.name, "event_id": event.id, "event_type": event.type},
        )
        await self._dead_letter(record, error)

    async def _refuse(self, record: ConsumerRecord[Any, Any], reason: str, detail: str) -> None:
        REJECTED.labels(self.name, reason).inc()
        log.warning(
            "record refused, dead-lettered",
            extra={"consumer": self.name, "reason": reason, "detail": detail[:500]},
        )
        await self._dead_letter(record, ValueError(detail))

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: BaseException) -> None:
        headers = _header_dict(record)
        headers.update(
            {
                "dlq-consumer": self.name,
                "dlq-error": f"{type(error).__name__}: {error}"[:2000],
                "dlq-topic": record.topic,
                "dlq-partition": str(record.partition),
                "dlq-offset": str(record.offset),
            }
        )
        await self.dead_letter(f"{record.topic}.dlq", record.value, record.key, headers)
        DEAD_LETTERED.labels(self.name, record.topic).inc()


def _event_id(event: CloudEvent) -> str:
    return event.id


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode(errors="replace")
    return None


def _incoming_context(record: ConsumerRecord[Any, Any], event: CloudEvent) -> Context:
    """The trace a record continues: its `traceparent` header (with `tracestate`), else the
    envelope's own `traceparent` (a producer that set only the attribute)."""
    headers = _header_dict(record)
    if "traceparent" not in headers and event.traceparent:
        headers["traceparent"] = event.traceparent
    return propagate.extract(headers)


def _span_attributes(record: ConsumerRecord[Any, Any], event: CloudEvent) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": record.topic,
        "messaging.kafka.destination.partition": record.partition,
        "messaging.kafka.offset": record.offset,
        "messaging.message.id": event.id,
        "cloudevents.event_type": event.type,
    }


def _continued(event: CloudEvent, span: trace.Span) -> CloudEvent:
    """``event`` with its `traceparent` set to ``span``, the span processing it."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return event
    traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
    return event.model_copy(update={"traceparent": traceparent})


def _header_dict(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in (record.headers or ())}


def broker_dead_letter(broker: KafkaBroker) -> DeadLetterSink:
    async def send(topic: str, value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        await broker.publish(value, topic, key=key, headers=headers)

    return send


async def _undecoded(message: Any) -> None:
    """The handler reads the raw records and parses each envelope itself; FastStream's own
    decoding (a message object and a JSON parse per record) would be thrown away."""
    return None


def subscribe(broker: KafkaBroker, consumer: EventConsumer, *, max_records: int = 500) -> None:
    """Wires `consumer` to `broker` as a batch subscriber that commits after each batch."""

    @broker.subscriber(
        *consumer.topics,
        group_id=consumer.name,
        batch=True,
        max_records=max_records,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_undecoded,
    )
    async def handle(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        try:
            await consumer.process(records)
        except Exception as exc:
            if is_transient(exc):
                # Rewound by FastStream; pause so a database outage is not a hot loop.
                await asyncio.sleep(1.0)
            raise
