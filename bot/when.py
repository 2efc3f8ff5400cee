"""Understanding when a candidate wants to meet ("tuesday at 3pm", "next monday morning") and where they are.

Dates and times are read by the `dateparser` library in the candidate's own time zone. Around it, this
module only does what dateparser leaves to the caller: SMS shorthand ("tmrw", "aft"), parts of the day
("afternoon"), spans ("next week"), "after 4pm", and a bare "at 3", which people mean as a business hour.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
import pytz
from dateparser.date import DateDataParser
from dateparser.search import search_dates
from phonenumbers import timezone as phone_timezones

SHORTHAND = {
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrow": "tomorrow", "tomoz": "tomorrow", "2moro": "tomorrow",
    "2morrow": "tomorrow", "tomorow": "tomorrow", "tommorow": "tomorrow", "tommorrow": "tomorrow",
    "aft": "afternoon", "arvo": "afternoon", "afternoons": "afternoon", "mornings": "morning", "am's": "morning",
    "evenings": "evening", "eve": "evening", "nxt": "next", "wk": "week", "wknd": "weekend", "tdy": "today",
    "2day": "today", "thurs": "thursday", "thur": "thursday", "thu": "thursday", "tues": "tuesday",
    "tue": "tuesday", "weds": "wednesday", "wed": "wednesday", "mon": "monday", "fri": "friday",
    "noon": "12pm", "midday": "12pm", "lunchtime": "12pm",
}
DAYPARTS = {"morning": (8, 12), "afternoon": (12, 17), "evening": (17, 21)}
WEEKDAY_WORDS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
MONTH_WORDS = frozenset({
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june", "jul", "july",
    "aug", "august", "sep", "sept", "september", "oct", "october", "nov", "november", "dec", "december",
})
RELATIVE_DAY_WORDS = frozenset({"today", "tomorrow", "tonight"})
EARLIEST_WORDS = frozenset({"earliest", "soonest", "asap", "first", "sooner"})
FILLER = frozenset({
    "i", "im", "i'm", "can", "could", "do", "does", "how", "about", "is", "are", "any", "anything", "works",
    "work", "good", "fine", "for", "me", "please", "pls", "plz", "ok", "okay", "maybe", "perhaps", "would",
    "be", "great", "what", "you", "have", "got", "free", "open", "slot", "slots", "time", "times", "book",
    "schedule", "my", "interview", "want", "like", "to", "prefer", "preferably", "ideally", "best",
    "available", "availability", "there", "something", "sometime", "some", "day", "the", "a", "an", "that",
    "this", "on", "in", "of", "let's", "lets", "say", "go", "with", "yes", "yeah", "sure", "and", "or",
})


@dataclass(frozen=True)
class TimePreference:
    """What a candidate asked for, in their own time zone. Empty means "any time"."""

    date: dt.date | None = None
    span: tuple[dt.date, dt.date] | None = None  # inclusive
    time: dt.time | None = None  # an exact start time
    hours: tuple[int, int] | None = None  # a part of the day, [start, end) in local hours
    earliest: bool = False

    @property
    def is_empty(self) -> bool:
        return self == TimePreference()

    @property
    def is_exact(self) -> bool:
        return self.date is not None and self.time is not None

    def admits(self, local: dt.datetime) -> bool:
        """Whether a start time (in the candidate's zone) fits everything asked for."""
        if self.date is not None and local.date() != self.date:
            return False
        if self.span is not None and not self.span[0] <= local.date() <= self.span[1]:
            return False
        if self.time is not None and local.time() != self.time:
            return False
        return self.hours is None or self.hours[0] <= local.hour < self.hours[1]

    def target(self, today: dt.date) -> dt.datetime:
        """The moment the candidate aimed at, naive local, to rank the nearest alternatives."""
        day = self.date or (self.span[0] if self.span else today)
        clock = self.time or (dt.time(self.hours[0]) if self.hours else dt.time(9))
        return dt.datetime.combine(day, clock)


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    cleaned = "".join(ch if ch.isalnum() or ch in ":/'" else " " for ch in text)
    return [SHORTHAND.get(word, word) for word in cleaned.split()]


def _clock_word(words: list[str], index: int) -> str | None:
    """A bare hour after "at"/"around" ("at 3") read as a business hour: 8 to 11 am, 12 to 7 pm."""
    word = words[index]
    if index == 0 or words[index - 1] not in {"at", "around", "about", "@", "from", "after", "before", "by"}:
        return None
    hour_text, _, minute_text = word.partition(":")
    if not hour_text.isdigit() or (minute_text and not minute_text.isdigit()):
        return None
    hour = int(hour_text)
    if not 1 <= hour <= 12:
        return None
    suffix = "am" if 8 <= hour <= 11 else "pm"
    return f"{word}{suffix}"


def _parse(fragment: str, now: dt.datetime) -> dt.datetime | None:
    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": now, "RETURN_AS_TIMEZONE_AWARE": False}
    data = DateDataParser(languages=["en"], settings=settings).get_date_data(fragment)
    if data.date_obj is not None and data.period in {"day", "time"}:
        return data.date_obj
    found = search_dates(fragment, languages=["en"], settings=settings) or []
    for text, moment in found:
        if any(ch.isdigit() for ch in text) or set(_words(text)) & (WEEKDAY_WORDS | MONTH_WORDS | RELATIVE_DAY_WORDS):
            return moment
    return None


def understand_time(text: str, now_local: dt.datetime) -> TimePreference:
    """Read a day/time preference from free text, relative to `now_local` (naive, candidate's zone)."""
    now_local = now_local.replace(tzinfo=None, second=0, microsecond=0)
    words = _words(text)
    hours = None
    span = None
    earliest = False
    after = before = None
    kept: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in DAYPARTS:
            hours = DAYPARTS[word]
        elif word in {"next", "this", "later"} and following in {"week", "weekend"}:
            monday = now_local.date() - dt.timedelta(days=now_local.weekday())
            if word == "next":
                monday += dt.timedelta(days=7)
            first = max(monday, now_local.date())
            span = (first, monday + dt.timedelta(days=6)) if following == "week" else (
                monday + dt.timedelta(days=5), monday + dt.timedelta(days=6))
            index += 1
        elif word in EARLIEST_WORDS:
            earliest = True
        elif word in {"after", "from"} and following:
            after = following
        elif word in {"before", "by"} and following:
            before = following
        elif word == "may" and not any(w[:1].isdigit() for w in words[max(index - 1, 0):index + 2]):
            pass  # "may I book" asks permission; "may 3" is a date
        elif word not in FILLER or word in {"at"}:
            kept.append(_clock_word(words, index) or word)
        index += 1

    time_of_day = None
    date = None
    if after or before:
        for bound in (after, before):
            if bound:
                kept = [w for w in kept if w != bound and w != _clock_word(["at", bound], 1)]
        bound_hours = [_hour_of(b, now_local) if b else None for b in (after, before)]
        if bound_hours[0] is not None or bound_hours[1] is not None:
            hours = (bound_hours[0] if bound_hours[0] is not None else 0,
                     bound_hours[1] if bound_hours[1] is not None else 24)
    fragment = " ".join(w for w in kept if w != "at")
    mentions_day = bool(set(kept) & (WEEKDAY_WORDS | MONTH_WORDS | RELATIVE_DAY_WORDS)) or any(
        "/" in w or w[:-2].isdigit() and w[-2:] in {"st", "nd", "rd", "th"} for w in kept)
    mentions_clock = any(w.endswith(("am", "pm")) and w[:-2].replace(":", "").isdigit() or
                         (":" in w and w.replace(":", "").isdigit()) for w in kept)
    if fragment and (mentions_day or mentions_clock):
        # A relative base at an odd minute shows whether the text gave a time (dateparser keeps the base's).
        probe = now_local.replace(minute=7)
        moment = _parse(fragment, probe)
        if moment is not None:
            if mentions_day:
                date = moment.date()
            if mentions_clock and moment.time() not in {dt.time(0), probe.time()}:
                time_of_day = moment.time()
    if date is not None and span is not None and not span[0] <= date <= span[1]:
        span = None  # "thursday next week" is a date; the span only said which week
    elif date is not None:
        span = None
    return TimePreference(date=date, span=span, time=time_of_day, hours=hours, earliest=earliest)


def _hour_of(word: str, now_local: dt.datetime) -> int | None:
    clock = _clock_word(["at", word], 1) or word
    if not (clock.endswith(("am", "pm")) and clock[:-2].replace(":", "").isdigit()):
        return None
    moment = _parse(clock, now_local.replace(minute=7))
    return moment.hour if moment is not None else None


# --- time zones -------------------------------------------------------------------------------

ZONE_WORDS = {
    "eastern": "America/New_York", "est": "America/New_York", "edt": "America/New_York", "et": "America/New_York",
    "east coast": "America/New_York", "nyc": "America/New_York", "boston": "America/New_York",
    "atlanta": "America/New_York", "miami": "America/New_York", "washington": "America/New_York",
    "philadelphia": "America/New_York", "central": "America/Chicago", "cst": "America/Chicago",
    "cdt": "America/Chicago", "ct": "America/Chicago", "dallas": "America/Chicago", "austin": "America/Chicago",
    "houston": "America/Chicago", "mountain": "America/Denver", "mst": "America/Denver", "mdt": "America/Denver",
    "mt": "America/Denver", "arizona": "America/Phoenix", "pacific": "America/Los_Angeles",
    "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles", "pt": "America/Los_Angeles",
    "west coast": "America/Los_Angeles", "san francisco": "America/Los_Angeles", "sf": "America/Los_Angeles",
    "seattle": "America/Los_Angeles", "la": "America/Los_Angeles", "portland": "America/Los_Angeles",
    "alaska": "America/Anchorage", "hawaii": "Pacific/Honolulu", "atlantic": "America/Halifax",
    "montreal": "America/Toronto", "ottawa": "America/Toronto",
    "uk": "Europe/London", "british": "Europe/London", "england": "Europe/London", "gmt": "Europe/London",
    "bst": "Europe/London", "utc": "UTC", "cet": "Europe/Berlin", "cest": "Europe/Berlin",
    "central european": "Europe/Berlin", "germany": "Europe/Berlin", "france": "Europe/Paris",
    "spain": "Europe/Madrid", "ireland": "Europe/Dublin", "india": "Asia/Kolkata", "ist": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata", "bengaluru": "Asia/Kolkata", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata",
    "japan": "Asia/Tokyo", "jst": "Asia/Tokyo", "aest": "Australia/Sydney", "sydney": "Australia/Sydney",
}
FRIENDLY_ZONE_NAMES = {
    "America/New_York": "US Eastern time", "America/Chicago": "US Central time",
    "America/Denver": "US Mountain time", "America/Phoenix": "Arizona time",
    "America/Los_Angeles": "US Pacific time", "America/Anchorage": "Alaska time",
    "Pacific/Honolulu": "Hawaii time", "Europe/London": "UK time", "Europe/Berlin": "Central European time",
    "Asia/Kolkata": "India time", "UTC": "UTC",
}


@functools.lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Every IANA zone by its full name and by its city ("new york", "berlin"), plus common words."""
    names: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if zone.startswith(("Etc/", "SystemV/")) or "/" not in zone:
            continue
        names.setdefault(zone.casefold(), zone)
        names.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").casefold(), zone)
    names.update(ZONE_WORDS)
    return names


def understand_timezone(text: str) -> str | None:
    """The IANA time zone a candidate named ("pacific", "I'm in Berlin", "Europe/Madrid"), or None."""
    raw = unicodedata.normalize("NFKC", text).strip()
    names = _zone_names()
    for token in raw.split():
        if "/" in token and token.strip(".,!?").casefold() in names:
            return names[token.strip(".,!?").casefold()]
    words = "".join(ch if ch.isalnum() else " " for ch in raw.casefold()).split()
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start:start + size])
            if phrase in names and not (size == 1 and phrase in {"la", "et", "pt", "ct", "mt"} and len(words) > 2):
                return names[phrase]
    return None


def timezone_from_phone(phone_e164: str | None) -> str | None:
    """The time zone a phone number belongs to, when the number pins one down (a country, an area code)."""
    if not phone_e164:
        return None
    try:
        number = phonenumbers.parse(phone_e164)
    except phonenumbers.NumberParseException:
        return None
    zones = [zone for zone in phone_timezones.time_zones_for_number(number) if zone != "Etc/Unknown"]
    if len(zones) == 1:
        return zones[0]
    # Several zones (a UK mobile: London, Jersey, Guernsey, Isle of Man): the calling code's main country decides.
    region = phonenumbers.region_code_for_country_code(number.country_code)
    main_zones = [zone for zone in pytz.country_timezones.get(region, []) if zone in zones]
    return main_zones[0] if len(main_zones) == 1 else None


def valid_timezone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def describe_timezone(zone: str) -> str:
    """A name a candidate recognises: "US Eastern time", "UK time", else the city ("Madrid time")."""
    if zone in FRIENDLY_ZONE_NAMES:
        return FRIENDLY_ZONE_NAMES[zone]
    return f"{zone.rsplit('/', 1)[-1].replace('_', ' ')} time"


def zone_abbreviation(moment: dt.datetime, zone: str) -> str:
    """EST / EDT / GMT / BST as of that moment; "UTC+5:30" where the zone has no letters."""
    local = moment.astimezone(ZoneInfo(zone))
    name = local.tzname() or ""
    if name and name[0].isalpha():
        return name
    offset = local.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours_part, minutes_part = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours_part}" + (f":{minutes_part:02d}" if minutes_part else "")


def format_slot(moment: dt.datetime, zone: str, with_zone: bool = True) -> str:
    """ "Tue Nov 24, 3:00 PM EST": short enough for a numbered SMS list, unambiguous about the zone."""
    local = moment.astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    text = f"{local:%a} {local:%b} {local.day}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    return f"{text} {zone_abbreviation(moment, zone)}" if with_zone else text
