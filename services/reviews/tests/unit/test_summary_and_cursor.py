"""Pure parts of reviews: the summary's arithmetic, cursors, the page statement's parameters."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from opscenter.contracts.reviews import RatingSummaryChangedV1
from opscenter.reviews.reviews.cursor import decode_cursor, encode_cursor
from opscenter.reviews.reviews.repository import cursor_columns, page_args, page_sql
from opscenter.reviews.reviews.schemas import ReviewSort, ReviewWrite
from opscenter.reviews.summary import BAYES_PRIOR_MEAN, BAYES_PRIOR_WEIGHT, Summary
from opscenter.servicekit.errors import Problem


def test_an_empty_summary_is_all_zero():
    empty = Summary.of({})
    assert (empty.count, empty.average, empty.bayesian_average) == (0, 0.0, 0.0)
    assert dict(empty.histogram) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_the_bayesian_average_pulls_few_ratings_towards_the_prior():
    one_five = Summary.of({5: 1})
    assert one_five.average == 5.0
    assert one_five.bayesian_average == round((BAYES_PRIOR_WEIGHT * BAYES_PRIOR_MEAN + 5) / 11, 4)
    many_fives = Summary.of({5: 1000})
    assert 4.9 < many_fives.bayesian_average < 5.0


@given(st.dictionaries(st.integers(1, 5), st.integers(0, 10_000)))
def test_every_summary_is_a_valid_event(counts):
    s = Summary.of(counts)
    event = RatingSummaryChangedV1(
        plugin_id=uuid.uuid4(),
        slug="some-plugin",
        average=s.average,
        bayesian_average=s.bayesian_average,
        count=s.count,
        histogram=dict(s.histogram),
    )
    assert event.count == sum(counts.values())
    if s.count:
        assert min(counts) - 1e-9 <= s.average <= max(k for k, v in counts.items() if v) + 1e-9


@pytest.mark.parametrize("sort", list(ReviewSort))
def test_a_cursor_round_trips_and_fits_its_statement(sort):
    row = {
        "created_at": datetime(2026, 12, 2, 13, 0, 0, 123456, tzinfo=UTC),
        "id": uuid.uuid4(),
        "rating": 4,
        "helpful_count": 7,
    }
    values = decode_cursor(encode_cursor(row, sort), sort)
    assert values == [row[c] for c in cursor_columns(sort)]
    for after in (None, values):
        for by_id in (False, True):
            for rating in (None, 3):
                sql = page_sql(
                    sort, by_id=by_id, rating=rating is not None, after=after is not None
                )
                args = page_args("a-slug", rating, False, after, 21)
                numbers = {int(n) for n in re.findall(r"\$(\d+)", sql)}
                assert numbers == set(range(1, len(args) + 1))


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bnVsbA", "WzFd", "WyJuZXdlc3QiXQ", "WyJuZXdlc3QiLCIyMDI2LTAxLTAxIiwieCJd"],
)
def test_a_cursor_not_made_here_is_a_422_naming_it(cursor):
    with pytest.raises(Problem) as refused:
        decode_cursor(cursor, ReviewSort.NEWEST)
    assert refused.value.status == 422
    assert refused.value.errors[0]["field"] == "query.cursor"


def test_review_text_is_kept_exactly_and_blank_or_unknown_fields_are_refused():
    text = "  <b>as sent</b>\n"
    assert ReviewWrite(rating=3, title="t", body=text).body == text
    for bad in (
        {"rating": 3, "title": "t", "body": "  "},
        {"rating": 3, "title": "t", "body": "x", "extra": 1},
        {"rating": 3, "title": "t", "body": "\ud800"},
    ):
        with pytest.raises(ValidationError):
            ReviewWrite.model_validate(bad)


@pytest.mark.parametrize("rating", [0, 6, 40_000, -1, True, "5"])
def test_a_cursor_rating_outside_1_to_5_is_refused(rating):
    row = {"rating": 4, "created_at": datetime(2026, 1, 1, tzinfo=UTC), "id": uuid.uuid4()}
    good = json.loads(base64.urlsafe_b64decode(encode_cursor(row, ReviewSort.HIGHEST) + "=="))
    good[1] = rating
    forged = base64.urlsafe_b64encode(json.dumps(good).encode()).decode()
    with pytest.raises(Problem):
        decode_cursor(forged, ReviewSort.HIGHEST)
