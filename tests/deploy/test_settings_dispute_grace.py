"""DISPUTE_GRACE: seconds (0 or more) or `never`; anything else stops start-up naming the variable."""

import math

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from courier_project.env import StrictEnv


def parse(raw: str) -> float | None:
    env = StrictEnv()
    env.ENVIRON = {"DISPUTE_GRACE": raw}
    return env.seconds_or_never("DISPUTE_GRACE", default="120")


@pytest.mark.parametrize(
    ("raw", "expected"), [("120", 120.0), ("0", 0.0), ("2.5", 2.5), (" 7 ", 7.0), ("never", None), ("NEVER", None)]
)
def test_seconds_or_never(raw: str, expected: float | None) -> None:
    assert parse(raw) == expected


def test_the_default_is_used_when_unset() -> None:
    env = StrictEnv()
    env.ENVIRON = {}

    assert env.seconds_or_never("DISPUTE_GRACE", default="120") == 120.0


@pytest.mark.parametrize("raw", ["", "soon", "-1", "inf", "nan", "1e999", "2 minutes"])
def test_anything_else_stops_start_up_naming_the_variable(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DISPUTE_GRACE=.* is malformed: expected seconds"):
        parse(raw)


def outcome(raw: str) -> float | str | None:
    """The grace, or the refusal's message."""
    try:
        return parse(raw)
    except ImproperlyConfigured as refusal:
        return str(refusal)


@given(st.text(max_size=20))
def test_any_value_is_a_finite_grace_never_or_a_clear_refusal(raw: str) -> None:
    grace = outcome(raw)

    if isinstance(grace, str):
        assert grace.startswith("Environment variable DISPUTE_GRACE=")
        assert "expected seconds (0 or more) or never" in grace
    else:
        assert grace is None or (0 <= grace < math.inf)
        assert (grace is None) == (raw.strip().lower() == "never")


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_any_non_negative_number_is_taken_as_given(seconds: float) -> None:
    assert parse(repr(seconds)) == seconds
