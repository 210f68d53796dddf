"""The pipeline's pure decisions: retries and Retry-After, the breaker, token buckets, the
SSRF guard and signatures every secret verifies."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from opscenter.hooks.deliveries.policy import (
    AttemptResult,
    Breaker,
    RetryPolicy,
    TokenBuckets,
    classify,
    retry_after_s,
)
from opscenter.hooks.deliveries.webhook import TargetRefused, check_target, sign
from opscenter.hooks.secrets import SecretCipher, new_webhook_secret
from opscenter.hooks.settings import DEFAULT_RETRY_SCHEDULE_S

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def failed(code: int | None = 503, retry_after: str | None = None) -> AttemptResult:
    return AttemptResult("failed", code, "x", 1.0, retry_after)


def test_the_default_schedule_is_the_issues_and_ends_in_a_dead_letter():
    policy = RetryPolicy(DEFAULT_RETRY_SCHEDULE_S, jitter=0.0, retry_after_cap_s=3600)
    rng = random.Random(1)
    delays = []
    for made in range(1, 9):
        at = policy.next_attempt_at(made, failed(), NOW, rng)
        delays.append(None if at is None else (at - NOW).total_seconds())
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]


def test_jitter_stays_within_its_bounds():
    policy = RetryPolicy((0, 100, 100), jitter=0.1, retry_after_cap_s=0)
    rng = random.Random(7)
    for _ in range(200):
        at = policy.next_attempt_at(1, failed(), NOW, rng)
        assert at is not None
        assert 90 <= (at - NOW).total_seconds() <= 110


def test_retry_after_pushes_later_never_earlier_and_is_capped():
    policy = RetryPolicy((0, 5, 5), jitter=0.0, retry_after_cap_s=60)
    rng = random.Random(0)
    later = policy.next_attempt_at(1, failed(429, "30"), NOW, rng)
    assert later == NOW + timedelta(seconds=30)
    sooner = policy.next_attempt_at(1, failed(429, "1"), NOW, rng)
    assert sooner == NOW + timedelta(seconds=5)
    capped = policy.next_attempt_at(1, failed(429, "86400"), NOW, rng)
    assert capped == NOW + timedelta(seconds=60)
    date = policy.next_attempt_at(1, failed(503, "Wed, 02 Dec 2026 12:00:40 GMT"), NOW, rng)
    assert date == NOW + timedelta(seconds=40)
    assert retry_after_s("soon", NOW) is None


def test_success_and_gone_are_never_retried():
    policy = RetryPolicy((0, 5, 5), jitter=0.0, retry_after_cap_s=60)
    rng = random.Random(0)
    assert policy.next_attempt_at(1, AttemptResult("succeeded", 200, None, 1), NOW, rng) is None
    assert policy.next_attempt_at(1, AttemptResult("gone", 410, "x", 1), NOW, rng) is None
    assert [classify(c) for c in (200, 204, 299, 301, 410, 429, 500)] == [
        "succeeded",
        "succeeded",
        "succeeded",
        "failed",
        "gone",
        "failed",
        "failed",
    ]


def test_the_breaker_opens_after_the_threshold_lets_one_probe_and_closes():
    b = Breaker("http://x")
    probe_after = timedelta(seconds=30)
    assert b.record(failed(400), NOW, 3, probe_after) is None
    assert b.consecutive_failures == 0, "a 4xx is the request's fault, not the endpoint's"
    assert b.record(failed(), NOW, 3, probe_after) is None
    assert b.record(failed(None), NOW, 3, probe_after) is None
    assert b.record(failed(429), NOW, 3, probe_after) == "opened"
    assert b.admit(NOW + timedelta(seconds=10), timedelta(seconds=5)) == NOW + probe_after
    later = NOW + timedelta(seconds=31)
    assert b.admit(later, timedelta(seconds=5)) is None, "the probe goes"
    assert b.state == "half_open"
    assert b.admit(later, timedelta(seconds=5)) == later + timedelta(seconds=5), "only one"
    assert b.record(failed(), later, 3, probe_after) is None
    assert b.state == "open"
    assert b.admit(later + probe_after, timedelta(seconds=5)) is None
    assert b.record(AttemptResult("succeeded", 200, None, 1), later, 3, probe_after) == "closed"
    assert (b.state, b.consecutive_failures) == ("closed", 0)


def test_token_bucket_allows_the_burst_then_the_rate():
    buckets = TokenBuckets(rate=10, burst=3)
    assert [buckets.take("i", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("i", 0.0) == pytest.approx(0.1)
    assert buckets.take("other", 0.0) == 0.0, "one installation's bucket is its own"
    assert buckets.take("i", 0.1) == 0.0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
    ],
)
async def test_private_targets_are_refused_unless_allowed(url: str):
    with pytest.raises(TargetRefused):
        await check_target(url, allow_private=False)


async def test_loopback_is_allowed_by_the_operator_setting():
    await check_target("http://127.0.0.1:9/x", allow_private=True)


def test_every_active_secret_signs_and_each_verifies():
    old, new = new_webhook_secret(), new_webhook_secret()
    body = '{"a":1}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign([new, old], "msg_1", now, body),
    }
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(new_webhook_secret()).verify(body, headers)


def test_secrets_are_encrypted_and_a_wrong_key_is_reported():
    secret = new_webhook_secret()
    token = SecretCipher("k1").encrypt(secret)
    assert secret not in token
    assert SecretCipher("k1").decrypt(token) == secret
    with pytest.raises(ValueError, match="HOOKS_SECRET_KEY"):
        SecretCipher("k2").decrypt(token)


def test_production_refuses_the_dev_keys_and_private_targets():
    from pydantic import ValidationError

    from opscenter.hooks.settings import HooksSettings
    from opscenter.servicekit.sealing import generate_keypair

    strong = "x" * 40
    own_key, _ = generate_keypair()
    issued = {"jwt_audience": "opscenter-api", "jwt_issuer": "https://id.example"}
    production = {"environment": "production", "jwt_secret": strong, **issued}
    with pytest.raises(ValidationError, match="secret_key"):
        HooksSettings(**production)
    own = {**production, "secret_key": strong, "token_signing_seed": strong}
    with pytest.raises(ValidationError, match="config_private_key"):
        HooksSettings(**own)
    own["config_private_key"] = own_key
    with pytest.raises(ValidationError, match="allow_private_targets"):
        HooksSettings(**own, allow_private_targets=True)
    with pytest.raises(ValidationError, match="must be 32 bytes"):
        HooksSettings(config_private_key="c2hvcnQ=")
    HooksSettings(**own)
