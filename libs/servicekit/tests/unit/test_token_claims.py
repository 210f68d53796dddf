"""Token claims are checked for type before anything uses them, and aud/iss when configured:
property-based over the claim values a token may carry (the e2e suite repeats the type rules
through the gateway, tests/e2e/test_untrusted_inputs.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opscenter.servicekit.auth import CLAIM_ID_PATTERN, TokenVerifier
from opscenter.servicekit.errors import Problem
from opscenter.servicekit.settings import ServiceSettings

SECRET = "s" * 40


def _token(settings: ServiceSettings, **claims: Any) -> str:
    body = {"sub": "user-17", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def _refused(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as caught:
        verifier.verify(token)
    assert caught.value.status == 401
    return caught.value


@pytest.mark.parametrize(
    ("configured", "claims", "accepted"),
    [
        ({"jwt_audience": "ops"}, {"aud": "ops"}, True),
        ({"jwt_audience": "ops"}, {"aud": "other"}, False),
        ({"jwt_audience": "ops"}, {}, False),
        ({"jwt_issuer": "idp"}, {"iss": "idp"}, True),
        ({"jwt_issuer": "idp"}, {"iss": "evil"}, False),
        ({"jwt_issuer": "idp"}, {}, False),
        ({}, {"aud": "anything", "iss": "anyone"}, True),
    ],
)
def test_audience_and_issuer_are_checked_when_configured(
    configured: dict[str, str], claims: dict[str, str], accepted: bool
):
    settings = ServiceSettings(jwt_secret=SECRET, **configured)
    verifier = TokenVerifier(settings)
    token = _token(settings, **claims)
    if accepted:
        assert verifier.verify(token).subject == "user-17"
    else:
        _refused(verifier, token)


NOT_AN_IDENTIFIER = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(min_size=129, max_size=300),
    st.text(max_size=20).filter(lambda s: not re.match(CLAIM_ID_PATTERN, s)),
)


@given(claim=st.sampled_from(["sub", "tenant_id", "publisher_id"]), value=NOT_AN_IDENTIFIER)
def test_an_identifier_claim_outside_the_alphabet_is_401_never_stringified(claim: str, value: Any):
    settings = ServiceSettings(jwt_secret=SECRET)
    _refused(TokenVerifier(settings), _token(settings, **{claim: value}))


@given(value=st.from_regex(CLAIM_ID_PATTERN, fullmatch=True))
def test_every_identifier_of_the_alphabet_is_accepted_as_is(value: str):
    settings = ServiceSettings(jwt_secret=SECRET)
    principal = TokenVerifier(settings).verify(
        _token(settings, sub=value, tenant_id=value, publisher_id=value)
    )
    assert (principal.subject, principal.tenant_id, principal.publisher_id) == (value,) * 3


@given(
    claim=st.sampled_from(["exp", "iat", "nbf"]),
    value=st.one_of(st.text(max_size=12), st.booleans(), st.lists(st.integers(), max_size=2)),
)
def test_time_claims_that_are_not_numbers_are_401(claim: str, value: Any):
    settings = ServiceSettings(jwt_secret=SECRET)
    _refused(TokenVerifier(settings), _token(settings, **{claim: value}))
