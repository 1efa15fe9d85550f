"""Quiet hours (SPEC section 14): the hours, in a recipient's local time, when a campaign
sends nothing. A text that falls inside is deferred to the end of the quiet period, never
dropped (unless its campaign's validity runs out first: campaigns.sending).

A number's local time comes from `phonenumbers.timezone`. Many numbers have several zones
(mobile ranges, toll-free numbers, countries across several zones): the one taken is the
one latest in the night, the zone whose clock is furthest behind at that moment, so its
night starts and ends last and a deferral ends when morning has come in every one of the
number's zones. A number whose range names no zone takes its country's (the zones of the
country's example fixed-line number), and failing that TIME_ZONE.
"""

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as number_zones

__all__ = ["deferred_until", "in_quiet_hours", "parse_hours", "zones_of"]

UNKNOWN = "Etc/Unknown"


def parse_hours(value: object) -> tuple[time, time]:
    """`{"start": "21:00", "end": "08:00"}` as two times. ValueError says what is wrong."""
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise ValueError('Give {"start": "HH:MM", "end": "HH:MM"}.')
    try:
        start, end = (time.fromisoformat(str(value[key])) for key in ("start", "end"))
    except ValueError:
        raise ValueError("Times are HH:MM, from 00:00 to 23:59.") from None
    if start.second or end.second or start.microsecond or end.microsecond:
        raise ValueError("Times are HH:MM, whole minutes.")
    if start == end:
        raise ValueError("The start and the end must differ.")
    return start, end


def zones_of(number: phonenumbers.PhoneNumber) -> str:
    """The number's time zones, comma-separated, as stored on its record."""
    zones = [zone for zone in number_zones.time_zones_for_number(number) if zone != UNKNOWN]
    if not zones:
        zones = list(_country_zones(phonenumbers.region_code_for_number(number) or ""))
    return ",".join(zones)


@lru_cache(maxsize=512)
def _country_zones(region: str) -> tuple[str, ...]:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    if example is None:
        return ()
    return tuple(z for z in number_zones.time_zones_for_number(example) if z != UNKNOWN)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _latest_in_the_night(zones: str, at: datetime) -> ZoneInfo:
    candidates = [zone for name in zones.split(",") if name and (zone := _zone(name))]
    if not candidates:
        return ZoneInfo(settings.TIME_ZONE)
    return min(candidates, key=lambda zone: at.astimezone(zone).utcoffset() or timedelta())


def in_quiet_hours(clock: time, start: time, end: time) -> bool:
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # over midnight


def deferred_until(zones: str, start: time, end: time, at: datetime) -> datetime | None:
    """When the quiet period that `at` falls in ends for a number in `zones`, or None if
    `at` is outside quiet hours there."""
    zone = _latest_in_the_night(zones, at)
    local = at.astimezone(zone)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return None
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)  # the quiet period ends tomorrow morning
    return datetime.combine(day, end, tzinfo=zone)
