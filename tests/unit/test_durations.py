"""ISO 8601 durations in settings: CREDIT_VALIDITY=P365D or PT30S."""

from datetime import timedelta

import pytest

from shared.config import Settings
from shared.durations import InvalidDuration, format_duration, parse_duration


@pytest.mark.parametrize(("text", "duration"), [
    ("P365D", timedelta(days=365)), ("PT30S", timedelta(seconds=30)), ("P7D", timedelta(days=7)),
    ("P1W2DT3H", timedelta(days=9, hours=3)), ("PT1M30S", timedelta(seconds=90)), ("pt0.5s", timedelta(seconds=0.5)),
])
def test_durations_of_fixed_length_are_read(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["P1Y", "P1M", "365", "P", "PT", "P1DT", "-P1D", "PT0S", "P1D2H"])
def test_anything_else_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


def test_years_and_months_are_refused_because_they_have_no_fixed_length() -> None:
    with pytest.raises(InvalidDuration, match="P365D"):
        parse_duration("P1Y")


@pytest.mark.parametrize(("duration", "text"), [
    (timedelta(days=365), "P365D"), (timedelta(seconds=30), "PT30S"), (timedelta(days=1, hours=2), "P1DT2H"),
    (timedelta(minutes=90), "PT1H30M"), (timedelta(0), "PT0S"),
])
def test_durations_are_written_back_in_their_shortest_form(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_the_settings_read_them_and_name_the_variable_when_one_is_wrong() -> None:
    settings = Settings.from_env({"CREDIT_VALIDITY": "PT30S", "EXPIRY_REMINDER_BEFORE": "PT10S"})
    assert settings.credit_validity == timedelta(seconds=30)
    assert settings.expiry_reminder_before == timedelta(seconds=10)
    assert Settings.from_env({}).credit_validity == timedelta(days=365)
    with pytest.raises(ValueError, match="CREDIT_VALIDITY"):
        Settings.from_env({"CREDIT_VALIDITY": "P1Y"})
