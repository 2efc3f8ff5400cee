"""Understanding days, times and time zones the way candidates write them."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.when import (
    TimePreference,
    describe_timezone,
    timezone_from_phone,
    understand_time,
    understand_timezone,
    zone_abbreviation,
)

# Sunday Nov 22 2026, 9:30 in the candidate's own zone.
NOW = dt.datetime(2026, 11, 22, 9, 30)
D = dt.date
T = dt.time


@pytest.mark.parametrize(("text", "expected"), [
    ("tuesday at 3pm", TimePreference(date=D(2026, 11, 24), time=T(15))),
    ("Tue Nov 24, 3:00 PM", TimePreference(date=D(2026, 11, 24), time=T(15))),
    ("next monday morning", TimePreference(date=D(2026, 11, 23), hours=(8, 12))),
    ("book me for thursday afternoon", TimePreference(date=D(2026, 11, 26), hours=(12, 17))),
    ("fri aft", TimePreference(date=D(2026, 11, 27), hours=(12, 17))),
    ("any slots next week?", TimePreference(span=(D(2026, 11, 23), D(2026, 11, 29)))),
    ("the 24th at 10", TimePreference(date=D(2026, 11, 24), time=T(10))),
    ("at 3 on friday", TimePreference(date=D(2026, 11, 27), time=T(15))),
    ("Nov 30 2pm", TimePreference(date=D(2026, 11, 30), time=T(14))),
    ("dec 2 at 11:30", TimePreference(date=D(2026, 12, 2), time=T(11, 30))),
    ("wed 10am", TimePreference(date=D(2026, 11, 25), time=T(10))),
    ("tmrw at 10", TimePreference(date=D(2026, 11, 23), time=T(10))),
    ("2:30 pm thursday", TimePreference(date=D(2026, 11, 26), time=T(14, 30))),
    ("3pm", TimePreference(time=T(15))),
    ("mornings are best for me", TimePreference(hours=(8, 12))),
    ("after 4pm any day", TimePreference(hours=(16, 24))),
    ("before 11am wednesday", TimePreference(date=D(2026, 11, 25), hours=(0, 11))),
    ("the earliest you have", TimePreference(earliest=True)),
    ("monday the 30th", TimePreference(date=D(2026, 11, 30))),
])
def test_day_and_time_phrases(text, expected):
    assert understand_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["can I schedule my interview", "may I book a slot", "yes", "ok sounds good", "",
                                  "I'm in pacific time", "\u200b\u200b"])
def test_text_without_a_day_or_time_is_no_preference(text):
    assert understand_time(text, NOW).is_empty


def test_preferences_match_local_times():
    thursday_afternoon = TimePreference(date=D(2026, 11, 26), hours=(12, 17))
    assert thursday_afternoon.admits(dt.datetime(2026, 11, 26, 14))
    assert not thursday_afternoon.admits(dt.datetime(2026, 11, 26, 10))
    assert not thursday_afternoon.admits(dt.datetime(2026, 11, 27, 14))


@pytest.mark.parametrize(("text", "zone"), [
    ("I'm in pacific time", "America/Los_Angeles"), ("eastern", "America/New_York"), ("EST", "America/New_York"),
    ("central time", "America/Chicago"), ("london", "Europe/London"), ("I'm in Berlin", "Europe/Berlin"),
    ("UK time", "Europe/London"), ("Europe/Madrid", "Europe/Madrid"), ("I live in chicago", "America/Chicago"),
    ("on the west coast", "America/Los_Angeles"), ("mountain time", "America/Denver"),
    ("New York", "America/New_York"), ("asia/kolkata", "Asia/Kolkata"), ("in LA", "America/Los_Angeles"),
])
def test_time_zones_by_name_city_or_abbreviation(text, zone):
    assert understand_timezone(text) == zone


@pytest.mark.parametrize("text", ["yes", "no", "thursday at 3", "", "my interview"])
def test_not_time_zones(text):
    assert understand_timezone(text) is None


@pytest.mark.parametrize(("phone", "zone"), [
    ("+16175550101", "America/New_York"),  # Boston area code
    ("+13105550110", "America/Los_Angeles"),
    ("+447911123456", "Europe/London"),  # a UK mobile: London, not Guernsey
    ("+4915112345678", "Europe/Berlin"),
    ("+15555550100", None),  # no area code to go by
    ("not a number", None),
])
def test_time_zone_from_the_phone_number(phone, zone):
    assert timezone_from_phone(phone) == zone


def test_zone_names_and_abbreviations():
    assert describe_timezone("America/New_York") == "US Eastern time"
    assert describe_timezone("Europe/Madrid") == "Madrid time"
    summer, winter = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    assert (zone_abbreviation(summer, "Europe/London"), zone_abbreviation(winter, "Europe/London")) == ("BST", "GMT")
    assert zone_abbreviation(winter, "Asia/Dubai") == "UTC+4"
    assert zone_abbreviation(winter, "Asia/Kathmandu") == "UTC+5:45"
