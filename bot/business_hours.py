"""The recruiting team's working hours: when a person can answer, and how to say so honestly."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPEC = re.compile(r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    days: frozenset[int] = frozenset(range(5))  # Monday = 0
    opens: dt.time = dt.time(9)
    closes: dt.time = dt.time(17)

    @classmethod
    def parse(cls, spec: str, timezone: str) -> BusinessHours:
        """ "Mon-Fri 09:00-17:00" (or "Mon 10:00-14:00") in the company's time zone."""
        match = _SPEC.match(spec or "")
        lowered = [d.lower() for d in DAY_NAMES]
        if not match or match.group(1).lower() not in lowered or (
                match.group(2) and match.group(2).lower() not in lowered):
            raise ValueError(f"business hours must look like 'Mon-Fri 09:00-17:00', got {spec!r}")
        first = lowered.index(match.group(1).lower())
        last = lowered.index(match.group(2).lower()) if match.group(2) else first
        days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
        opens = dt.time(int(match.group(3)), int(match.group(4)))
        closes = dt.time(int(match.group(5)), int(match.group(6)))
        if closes <= opens:
            raise ValueError(f"business hours must close after they open, got {spec!r}")
        ZoneInfo(timezone)  # fails early on a zone name that does not exist
        return cls(timezone, days, opens, closes)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, moment: dt.datetime) -> bool:
        local = moment.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_opening(self, moment: dt.datetime) -> dt.datetime:
        """The moment itself when open, else the next opening (aware, in the company's zone)."""
        local = moment.astimezone(self.zone)
        if self.is_open(local):
            return local
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            opening = dt.datetime.combine(day, self.opens, self.zone)
            if day.weekday() in self.days and opening > local:
                return opening
        raise ValueError("business hours have no working day")  # unreachable: parse requires one

    def add_working_time(self, moment: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """`amount` of working time after `moment`, counting only open hours."""
        current = self.next_opening(moment)
        remaining = amount
        while True:
            closing = dt.datetime.combine(current.date(), self.closes, self.zone)
            if current + remaining <= closing:
                return current + remaining
            remaining -= closing - current
            current = self.next_opening(closing)

    def describe(self) -> str:
        ordered = sorted(self.days)
        days = DAY_NAMES[ordered[0]] if len(ordered) == 1 else f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
        zone = _zone_label(self.timezone, dt.datetime.now(self.zone))
        return f"{days} {_clock(self.opens)}-{_clock(self.closes)} {zone}"


def _clock(value: dt.time) -> str:
    hour = value.hour % 12 or 12
    suffix = "AM" if value.hour < 12 else "PM"
    return f"{hour}:{value.minute:02d} {suffix}" if value.minute else f"{hour} {suffix}"


def _zone_label(timezone: str, moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo(timezone)).tzname() or timezone


def reply_expectation(hours: BusinessHours, now: dt.datetime, claim_within: dt.timedelta) -> str:
    """What a candidate may honestly expect, in one sentence."""
    if hours.is_open(now):
        minutes = max(1, round(claim_within.total_seconds() / 60))
        return f"A recruiter usually picks this up within {minutes} minutes."
    opening = hours.next_opening(now)
    local_now = now.astimezone(hours.zone)
    if opening.date() == local_now.date():
        when = "today"
    elif opening.date() == local_now.date() + dt.timedelta(days=1):
        when = "tomorrow"
    else:
        when = opening.strftime("%A")
    return (f"Our recruiters are offline right now; they're back {when} at {_clock(opening.time())} "
            f"{_zone_label(hours.timezone, opening)} and will pick this up then.")
