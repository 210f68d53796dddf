"""What an attempt's result means for its delivery: pure decisions, no I/O.

- 2xx is the only success. 410 Gone disables the installation's endpoint: no retry.
- Anything else (another status, a timeout, a refused connection, a refused target) is retried
  on the schedule (``retry_schedule_s[n]`` after attempt n+1, with jitter); a ``Retry-After``
  (seconds or an HTTP date) pushes the next attempt later, never earlier, capped.
- After the schedule's last attempt the delivery is dead-lettered.
- Failures that say the endpoint is unwell (no answer, 429, 5xx) count towards its breaker;
  a 4xx other than 429 is the request's problem, not the endpoint's health.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["succeeded", "failed", "gone"]


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came back with (``status_code`` None: no HTTP answer; ``cause``: why
    a sandboxed handler's attempt failed or was stopped, e.g. ``timeout``, ``memory``)."""

    outcome: Outcome
    status_code: int | None
    error: str | None
    latency_ms: float
    retry_after: str | None = None
    cause: str | None = None

    @property
    def endpoint_unwell(self) -> bool:
        if self.outcome != "failed":
            return False
        code = self.status_code
        return code is None or code == 429 or code >= 500


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return "succeeded"
    if status_code == 410:
        return "gone"
    return "failed"


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    schedule_s: tuple[float, ...]
    jitter: float
    retry_after_cap_s: float

    @property
    def max_attempts(self) -> int:
        return len(self.schedule_s)

    def next_attempt_at(
        self, attempts_made: int, result: AttemptResult, now: datetime, rng: random.Random
    ) -> datetime | None:
        """When to try again after ``attempts_made`` attempts ended in ``result``; None: never
        (success, gone, or the schedule is spent)."""
        if result.outcome != "failed" or attempts_made >= self.max_attempts:
            return None
        delay = self.schedule_s[attempts_made]
        if delay and self.jitter:
            delay *= rng.uniform(1 - self.jitter, 1 + self.jitter)
        asked = retry_after_s(result.retry_after, now)
        if asked is not None:
            delay = max(delay, min(asked, self.retry_after_cap_s))
        return now + timedelta(seconds=delay)


class TokenBuckets:
    """A token bucket per key (installation): ``rate`` tokens a second, at most ``burst``
    held. Kept in the dispatcher's memory: with several dispatchers each enforces its own
    bucket, so an installation's ceiling is ``rate`` times the replicas."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[object, tuple[float, float]] = {}

    def take(self, key: object, now: float) -> float:
        """Takes a token: 0.0 when one was there, else the seconds until one will be."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


BreakerEvent = Literal["opened", "closed"] | None


@dataclass
class Breaker:
    """One endpoint's circuit breaker: ``closed`` (calls flow), ``open`` (no calls until
    ``probe_at``), ``half_open`` (one probe call in flight, until ``probe_at``)."""

    url: str
    state: str = "closed"
    consecutive_failures: int = 0
    probe_at: datetime | None = None
    opened_at: datetime | None = None

    def admit(self, now: datetime, probe_window: timedelta) -> datetime | None:
        """None: this call may go. Otherwise when to ask again. An open breaker whose probe
        time came lets exactly one call through as its probe."""
        if self.state == "closed":
            return None
        assert self.probe_at is not None
        if now < self.probe_at:
            return self.probe_at
        self.state = "half_open"
        self.probe_at = now + probe_window
        return None

    def record(
        self, result: AttemptResult, now: datetime, threshold: int, probe_after: timedelta
    ) -> BreakerEvent:
        """Applies one attempt's result; says whether the breaker opened or closed."""
        if result.outcome == "succeeded":
            was_open = self.state != "closed"
            self.state, self.consecutive_failures, self.probe_at = "closed", 0, None
            return "closed" if was_open else None
        if not result.endpoint_unwell:
            return None
        self.consecutive_failures += 1
        if self.state == "closed" and self.consecutive_failures < threshold:
            return None
        opened = self.state == "closed"
        self.state, self.probe_at = "open", now + probe_after
        if opened:
            self.opened_at = now
            return "opened"
        return None
