"""Every event counted once: redeliveries, batch splits and bad records change no number."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from opscenter.analytics.buckets import floor
from opscenter.analytics.sketch import RELATIVE_ACCURACY
from opscenter.analytics.testing import PluginEvents
from opscenter.contracts import CloudEvent

DAY = floor(datetime.now(UTC), "day") - timedelta(days=2)


def _mixed_history(p: PluginEvents) -> tuple[list[CloudEvent], dict[str, int]]:
    """A day of a plugin's life and the counts it must produce."""
    events = [p.registered(DAY)]
    installs = [uuid.uuid4() for _ in range(7)]
    for i, inst in enumerate(installs):
        at = DAY + timedelta(hours=1 + i)
        events += [p.installed(at, inst), p.enabled(at + timedelta(minutes=5), inst)]
    events.append(p.disabled(DAY + timedelta(hours=10), installs[0]))
    events.append(p.uninstalled(DAY + timedelta(hours=11), installs[1]))
    events += [p.downloaded(DAY + timedelta(hours=h)) for h in range(12)]
    events += [p.delivery(DAY + timedelta(hours=3), 40 + i) for i in range(20)]
    events += [p.delivery(DAY + timedelta(hours=4), 900, "failed") for _ in range(3)]
    events.append(p.delivery(DAY + timedelta(hours=5), 10_000, "dead_lettered"))
    events.append(p.charged(DAY + timedelta(hours=6), Decimal("29.99")))
    events.append(p.rated(DAY + timedelta(hours=7), {1: 0, 2: 0, 3: 1, 4: 1, 5: 2}))
    expected = {
        "installs": 7,
        "enables": 7,
        "disables": 1,
        "uninstalls": 1,
        "active_installs": 6,
        "downloads": 12,
        "hook_deliveries": 24,
        "hook_failures": 4,
        "hook_dead_letters": 1,
    }
    return events, expected


async def _day_totals(client, tokens, p: PluginEvents, **params: str) -> dict:
    r = await client.get(
        f"/api/v1/plugins/{p.slug}/analytics",
        params={
            "from": DAY.isoformat(),
            "to": (DAY + timedelta(days=1)).isoformat(),
            "interval": "day",
            **params,
        },
        headers=tokens.developer(p.publisher_id),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_replaying_the_same_events_twice_changes_no_number(
    client, tokens, feed, dead_letters
):
    p = PluginEvents("pub-replay")
    events, expected = _mixed_history(p)
    await feed(events, batch=7)
    first = await _day_totals(client, tokens, p)
    for name, value in expected.items():
        assert first["totals"][name] == value, name
    assert first["totals"]["revenue"]["USD"]["gross"] == "29.99"

    await feed(events, batch=500)  # the whole history again, in other batches
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    await feed(shuffled, batch=3)
    again = await _day_totals(client, tokens, p)
    assert again == first
    assert dead_letters.records == []


async def test_one_event_twice_in_a_batch_counts_once(client, tokens, feed):
    p = PluginEvents("pub-dup")
    download = p.downloaded(DAY + timedelta(hours=2))
    await feed([p.registered(DAY), download, download, download])
    answer = await _day_totals(client, tokens, p, metrics="downloads")
    assert answer["totals"] == {"downloads": 1}


async def test_active_installs_follow_each_installations_newest_transition(client, tokens, feed):
    p = PluginEvents("pub-active")
    a, b = uuid.uuid4(), uuid.uuid4()
    at = DAY + timedelta(hours=1)
    events = [
        p.registered(DAY),
        p.installed(at, a, sequence=2),
        p.installed(at, b, sequence=2),
        # b's uninstall arrives, then an older transition of b: it must not count b again
        p.uninstalled(at + timedelta(hours=2), b, sequence=9),
        p.installed(at + timedelta(hours=3), b, sequence=2),
        # a moves to 2.0.0
        p.upgraded(at + timedelta(hours=4), a, old="1.0.0", new="2.0.0", sequence=5),
    ]
    await feed(events, batch=2)
    whole = await _day_totals(client, tokens, p, metrics="active_installs,installs")
    assert whole["totals"]["active_installs"] == 1
    old = await _day_totals(client, tokens, p, metrics="active_installs", version="1.0.0")
    new = await _day_totals(client, tokens, p, metrics="active_installs", version="2.0.0")
    assert old["totals"]["active_installs"] == 0
    assert new["totals"]["active_installs"] == 1


async def test_a_bad_payload_is_dead_lettered_and_the_rest_of_its_batch_applied(
    client, tokens, feed, dead_letters
):
    p = PluginEvents("pub-poison")
    good = [p.registered(DAY), *(p.downloaded(DAY + timedelta(hours=h)) for h in range(5))]
    bad = p.downloaded(DAY + timedelta(hours=6))
    bad.data["version"] = "not a version"
    unknown = CloudEvent(source="/x", type="catalog.plugin.teleported.v7", data={"plugin_id": 1})
    await feed([*good[:3], bad, unknown, *good[3:]])
    answer = await _day_totals(client, tokens, p, metrics="downloads")
    assert answer["totals"]["downloads"] == 5
    assert [d["dlq-topic"] for d in dead_letters.records] == ["catalog.plugin"]
    assert "version" in dead_letters.records[0]["dlq-error"]


async def test_revenue_splits_add_up_to_the_gross_to_the_cent(client, tokens, feed):
    p = PluginEvents("pub-money")
    rng = random.Random(15)
    amounts = {
        "USD": [Decimal(rng.randint(1, 99_999)) / 100 for _ in range(300)],
        "EUR": [Decimal(rng.randint(1, 9_999)) / 100 for _ in range(120)],
    }
    events = [p.registered(DAY)]
    for currency, values in amounts.items():
        events += [
            p.charged(DAY + timedelta(minutes=4 * i), v, currency) for i, v in enumerate(values)
        ]
    await feed(events, batch=64)
    answer = await _day_totals(client, tokens, p, metrics="revenue", interval="hour")
    totals = answer["totals"]["revenue"]
    assert set(totals) == {"USD", "EUR"}
    for currency, values in amounts.items():
        money = totals[currency]
        assert Decimal(money["gross"]) == sum(values)
        assert Decimal(money["developer"]) + Decimal(money["platform"]) == sum(values)
        assert money["charges"] == len(values)
        # the developer's 70% is within half a cent per charge of 70% of the gross
        assert abs(Decimal(money["developer"]) - sum(values) * Decimal("0.7")) <= Decimal(
            "0.005"
        ) * len(values)
        hourly = [Decimal(point["revenue"][currency]["gross"]) for point in answer["series"]]
        assert sum(hourly) == sum(values)
        for point in answer["series"]:
            m = point["revenue"][currency]
            assert Decimal(m["developer"]) + Decimal(m["platform"]) == Decimal(m["gross"])


async def test_latency_percentiles_over_a_day_match_the_raw_latencies(client, tokens, feed):
    p = PluginEvents("pub-latency")
    rng = random.Random(99)
    latencies = [max(0, int(rng.lognormvariate(4.5, 1.1))) for _ in range(6000)]
    latencies += [0] * 30
    events = [p.registered(DAY)]
    events += [
        p.delivery(DAY + timedelta(seconds=(i * 14) % 86_400), ms) for i, ms in enumerate(latencies)
    ]
    await feed(events, batch=1000)
    answer = await _day_totals(
        client, tokens, p, metrics="hook_latency_p50,hook_latency_p95,hook_latency_p99"
    )
    ordered = sorted(latencies)
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        exact = ordered[int(q * (len(ordered) - 1))]
        got = answer["totals"][f"hook_latency_{name}"]
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 1e-9, (name, got, exact)
        assert answer["series"][0][f"hook_latency_{name}"] == got  # one bucket: the same sketch
    # the hour buckets merge to the day: percentiles of hours are not averaged
    hours = await _day_totals(client, tokens, p, metrics="hook_latency_p99", interval="hour")
    assert len(hours["series"]) == 24
    assert hours["totals"]["hook_latency_p99"] == answer["totals"]["hook_latency_p99"]
