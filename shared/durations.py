"""ISO 8601 durations for settings such as `CREDIT_VALIDITY=P365D` or `PT30S`.

Only the units of fixed length are accepted: weeks, days, hours, minutes, seconds. A year or
a month has no fixed length (P1M from January 31 is what?), and a validity the customer
confirms must mean exactly one moment, so `P1Y` and `P1M` are refused with a hint.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class InvalidDuration(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """'P365D' -> 365 days, 'PT30S' -> 30 s, 'P1W2DT3H' -> 9 days 3 hours."""
    value = text.strip().upper()
    match = _DURATION.match(value)
    if match is None:
        hint = " (years and months have no fixed length: write days, e.g. P365D)" if re.search(
            r"^P[^T]*[YM]", value) else ""
        raise InvalidDuration(f"{text!r} is not an ISO 8601 duration such as P365D or PT30S{hint}")
    parts = {name: float(amount) for name, amount in match.groupdict().items() if amount}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise InvalidDuration(f"{text!r} is not a positive duration")
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest ISO 8601 form: 365 days -> 'P365D', 30 s -> 'PT30S', 1 d 2 h -> 'P1DT2H'."""
    seconds = duration.total_seconds()
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, whole_seconds = divmod(rest, 60)
    fraction = seconds - int(seconds)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if whole_seconds or fraction:
        time += f"{whole_seconds + fraction:g}S"
    date = f"{days}D" if days else ""
    if not date and not time:
        return "PT0S"
    return "P" + date + (f"T{time}" if time else "")
