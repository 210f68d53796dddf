"""Event payloads, the registry of every event type, and the bridge to the envelope.

Invariants:
- every concrete payload class declares ``event_type`` and ``topic`` and registers itself;
  an ``event_type`` belongs to exactly one class;
- payloads are frozen and refuse unknown fields when built, so a producer cannot emit a typo;
  ``parse_payload`` ignores fields it does not know, so an optional field added by a newer
  producer does not break an older consumer (the tolerant-reader half of compatibility);
- a breaking change is a new class (``...V2``) with a new ``event_type``; a ``V1`` is never edited.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from opscenter.contracts.envelope import CloudEvent
from opscenter.contracts.errors import ContractError, UnknownEventType, field_errors
from opscenter.contracts.topics import Topic

__all__ = [
    "PAYLOAD_MODULES",
    "EventPayload",
    "all_payload_classes",
    "dataschema_for",
    "example_event",
    "new_event",
    "parse_payload",
    "parse_typed_event",
    "payload_class",
]

PAYLOAD_MODULES = ("catalog", "installer", "hooks", "reviews", "platform")
"""Modules under ``opscenter.contracts`` that define payloads; the registry imports them all."""

_REGISTRY: dict[str, type[EventPayload]] = {}
_EXAMPLE_TIME = datetime(2026, 1, 26, 19, 0, tzinfo=UTC)


class EventPayload(BaseModel):
    """The ``data`` of one event type. Subclasses set ``event_type`` and ``topic`` and
    implement ``partition_key`` (the aggregate whose order matters) and ``example``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            return  # an abstract intermediate base
        if not isinstance(getattr(cls, "topic", None), Topic):
            raise TypeError(f"{cls.__name__} declares event_type but no topic")
        existing = _REGISTRY.get(cls.event_type)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(
                f"event type {cls.event_type!r} is already registered by {existing.__name__}"
            )
        _REGISTRY[cls.event_type] = cls

    def partition_key(self) -> str:
        """The Kafka key: the aggregate whose events must stay in order."""
        raise NotImplementedError

    @classmethod
    def example(cls) -> Self:
        """A valid, realistic instance, used for docs, snapshots and consumer replay tests."""
        raise NotImplementedError


def _load_all() -> None:
    for name in PAYLOAD_MODULES:
        importlib.import_module(f"opscenter.contracts.{name}")


def payload_class(event_type: str) -> type[EventPayload]:
    """The payload class registered for ``event_type``; raises ``UnknownEventType``.

    A registered type is answered without importing the payload modules again (consumers
    call this once per event; the imports cost more than the lookup)."""
    found = _REGISTRY.get(event_type)
    if found is not None:
        return found
    _load_all()
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def all_payload_classes() -> list[type[EventPayload]]:
    """Every registered payload class, sorted by event type."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def dataschema_for(cls: type[EventPayload]) -> str:
    """The ``dataschema`` URI of an event type: ``opscenter:<event_type>``; its JSON Schema is
    committed as ``libs/contracts/schemas/<event_type>.json``."""
    return f"opscenter:{cls.event_type}"


def new_event(
    payload: EventPayload,
    *,
    source: str,
    tenant_id: str | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap ``payload`` in an envelope. ``tenantid`` defaults to the payload's ``tenant_id``
    and must agree with it when both are given."""
    own_tenant = getattr(payload, "tenant_id", None)
    if tenant_id is not None and own_tenant is not None and str(own_tenant) != tenant_id:
        raise ContractError(
            f"tenant_id {tenant_id!r} disagrees with the payload's tenant_id {own_tenant!r}",
            field="tenantid",
        )
    tenant = tenant_id if tenant_id is not None else own_tenant
    extra: dict[str, Any] = {}
    if event_id is not None:
        extra["id"] = event_id
    if time is not None:
        extra["time"] = time
    return CloudEvent(
        source=source,
        type=payload.event_type,
        subject=subject,
        dataschema=dataschema_for(type(payload)),
        tenantid=None if tenant is None else str(tenant),
        traceparent=traceparent,
        data=payload.model_dump(mode="json"),
        **extra,
    )


def parse_payload(event: CloudEvent) -> EventPayload:
    """The typed payload of ``event``; raises ``UnknownEventType`` or a ``ContractError``
    naming the bad field (``data.<field>``). Unknown fields in ``data`` are ignored. An event
    from ``parse_typed_event`` holds its payload, validated already: it is returned as is."""
    if isinstance(event.data, EventPayload):
        return event.data
    cls = payload_class(event.type)
    expected = dataschema_for(cls)
    if event.dataschema is not None and event.dataschema != expected:
        raise ContractError(
            f"dataschema {event.dataschema!r} does not match type {event.type!r} "
            f"(expected {expected!r})",
            field="dataschema",
        )
    try:
        return cls.model_validate(event.data, extra="ignore")
    except ValidationError as exc:
        errors = field_errors(exc, prefix="data")
        listed = "; ".join(str(e) for e in errors)
        raise ContractError(
            f"invalid {event.type} payload: {listed}", field=errors[0].loc, errors=errors
        ) from exc


def example_event(cls: type[EventPayload]) -> CloudEvent:
    """A deterministic envelope around ``cls.example()``: what consumers replay in tests."""
    return new_event(
        cls.example(),
        source="/opscenter/examples",
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"opscenter:{cls.event_type}")),
        time=_EXAMPLE_TIME,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


@cache
def _typed_envelope(cls: type[EventPayload]) -> type[CloudEvent]:
    """The envelope with ``data`` typed as ``cls``: both validated in one pass over the JSON.
    Built from the two models themselves, so they stay the one definition of a valid event."""
    model: type[CloudEvent] = create_model(
        f"{cls.__name__}Event", __base__=CloudEvent, __module__=__name__, data=(cls, ...)
    )
    return model


def parse_typed_event(raw: bytes, event_type: str) -> CloudEvent | None:
    """``raw`` as an event of ``event_type`` whose ``data`` is its payload model, validated in
    one pass (about 30% less CPU than ``CloudEvent.from_json_bytes`` then ``parse_payload``);
    None when it is not a valid event of that type, known to this process: the caller then
    takes the usual path, whose refusal (``ContractError``, naming the field) is the answer.

    Accepts exactly what the usual path accepts, with the same values (tested on a table of bad
    events): unknown ``data`` fields are ignored as ``parse_payload`` ignores them; unknown
    extension attributes are dropped (never emitted either way)."""
    cls = _REGISTRY.get(event_type)
    if cls is None:
        return None
    try:
        event = _typed_envelope(cls).model_validate_json(raw, extra="ignore")
    except ValidationError:
        return None
    if event.type != event_type:
        return None  # the body names another type than the caller expected
    if event.dataschema is not None and event.dataschema != dataschema_for(cls):
        return None
    return event
