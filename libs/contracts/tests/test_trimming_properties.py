"""Property-based proof that trimming lets no field outside the grant reach a plugin: for
every hook event, every grant and any fields a producer adds, the trimmed payload holds only
declared fields, only public ones unless the grant covers the event, and unchanged values."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from opscenter.contracts.hook_events import HOOK_EVENTS, matches_hook, trim_payload
from opscenter.contracts.permissions import Permission, covers

names = st.sampled_from(sorted(HOOK_EVENTS))
grants = st.sets(st.sampled_from([p.value for p in Permission]))
extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=20), st.one_of(st.integers(), st.text(max_size=20)), max_size=5
)


@given(name=names, grant=grants, extra=extra_fields)
def test_no_field_outside_the_grant_survives(name: str, grant: set[str], extra: dict[str, Any]):
    spec = HOOK_EVENTS[name]
    data = {**extra, **spec.example()}
    trimmed = trim_payload(name, data, grant)
    declared = set(spec.payload_class.model_fields)
    allowed = (
        declared
        if spec.permission is None or covers(grant, spec.permission)
        else declared & spec.public_fields
    )
    assert set(trimmed) <= allowed
    assert all(trimmed[k] == data[k] for k in trimmed)
    assert set(trimmed) == allowed & set(data), "nothing the grant covers is lost"


@given(name=names, grant=grants)
def test_a_grant_without_the_permission_sees_identifiers_only(name: str, grant: set[str]):
    spec = HOOK_EVENTS[name]
    if spec.permission is None or covers(grant, spec.permission):
        return
    assert set(trim_payload(name, spec.example(), grant)) <= spec.public_fields


@given(name=names)
def test_a_wildcard_matches_its_family_only(name: str):
    family = name.split(".")[0]
    assert matches_hook(f"{family}.*", name)
    assert matches_hook(name, name)
    for other in HOOK_EVENTS:
        if not other.startswith(family + "."):
            assert not matches_hook(f"{family}.*", other)
