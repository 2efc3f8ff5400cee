"""Proactive status updates and stale-application nudges, on a real SQLite state database and the demo ATS.

The demo seed (data/demo/ats_seed.yml) gives realistic applications: Priya (c1) at the Technical Interview
of the Machine Learning Engineer job, which candidates book themselves; Mei (c3) rejected and not yet told;
Tom (c6) hired; Omar (c8) with a withdrawn application and one untouched since October.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.ats.base import Application, Candidate, Company, Job, Recruiter, Stage
from bot.settings import Settings
from bot.sms import conversation_id_for, is_gsm7
from bot.status_updates import (
    SMS_CHANNEL,
    QuietHours,
    StatusUpdates,
    candidate_timezone,
    stale_nudge_text,
    update_reply,
)
from bot.store import open_state_db
from tests.conftest import DEMO_TODAY

UTC = dt.timezone.utc
NEW_YORK = "America/New_York"
NOW = dt.datetime(2026, 11, 22, 17, tzinfo=UTC)  # noon in New York, 18:00 in Berlin: nobody's quiet hours
ID_KEY = "test-conversation-key"
PRIYA_PHONE = "+16175550101"
ENV_NAMES = ("STATUS_UPDATES", "STATUS_UPDATE_REJECTIONS", "QUIET_HOURS", "STALE_APPLICATION_DAYS")


def sms_conversation(phone: str) -> str:
    return conversation_id_for(phone, ID_KEY)


def never_opted_out(phone: str) -> bool:
    return False


class OptOuts:
    """Records which numbers were asked about, as the SMS ledger would be."""

    def __init__(self, *opted_out: str) -> None:
        self.opted_out = set(opted_out)
        self.asked: list[str] = []

    def __call__(self, phone: str) -> bool:
        self.asked.append(phone)
        return phone in self.opted_out


@pytest.fixture()
def base_settings(monkeypatch) -> Settings:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(Settings.from_env(), status_updates=True, status_update_rejections=False,
                               quiet_hours="21:00-08:00", stale_application_days=7.0)


@pytest.fixture()
def make_updates(state_engine, base_settings):
    def make(**changes) -> StatusUpdates:
        return StatusUpdates(state_engine, dataclasses.replace(base_settings, **changes), sms_conversation)
    return make


@pytest.fixture()
def updates(make_updates) -> StatusUpdates:
    return make_updates()


@pytest.fixture()
def company(ats) -> Company:
    return ats.company()


def application_and_candidate(ats, application_id: str) -> tuple[Application, Candidate]:
    application = ats.get_application(application_id)
    assert application is not None, application_id
    return application, ats.get_candidate(application.candidate_id)


def pending_rows(updates: StatusUpdates, now: dt.datetime = NOW) -> list[dict]:
    return [dict(item.fields, conversation_id=item.conversation_id) for item in updates.updates.claim_due(now)]


# --- settings --------------------------------------------------------------------------------------------


def test_settings_read_the_status_update_switches_from_the_environment(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    assert (defaults.status_updates, defaults.status_update_rejections, defaults.quiet_hours,
            defaults.stale_application_days) == (True, False, "21:00-08:00", 7.0)
    monkeypatch.setenv("STATUS_UPDATES", "off")
    monkeypatch.setenv("STATUS_UPDATE_REJECTIONS", "yes")
    monkeypatch.setenv("QUIET_HOURS", "22:30-07:15")
    monkeypatch.setenv("STALE_APPLICATION_DAYS", "0")
    changed = Settings.from_env()
    assert (changed.status_updates, changed.status_update_rejections, changed.quiet_hours,
            changed.stale_application_days) == (False, True, "22:30-07:15", 0.0)


def test_bad_quiet_hours_setting_is_refused_when_updates_start(state_engine, base_settings):
    with pytest.raises(ValueError, match="QUIET_HOURS"):
        StatusUpdates(state_engine, dataclasses.replace(base_settings, quiet_hours="after dinner"), sms_conversation)


# --- quiet hours -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,expected", [
    ("21:00-08:00", QuietHours(dt.time(21), dt.time(8))),
    ("9:30 - 17:45", QuietHours(dt.time(9, 30), dt.time(17, 45))),
    (" 23:59-0:00 ", QuietHours(dt.time(23, 59), dt.time(0))),
])
def test_quiet_hours_parse(raw, expected):
    assert QuietHours.parse(raw) == expected


@pytest.mark.parametrize("raw", ["off", "OFF", "Off", "none", "", "   "])
def test_quiet_hours_can_be_turned_off(raw):
    assert QuietHours.parse(raw) is None


@pytest.mark.parametrize("raw", ["21:00", "21-08", "9pm-8am", "21:00-08:00-09:00", "24:00-08:00", "21:00-08:60",
                                 "21:00–08:00", "21.00-08.00", "always", "-"])
def test_quiet_hours_that_make_no_sense_raise_value_error(raw):
    with pytest.raises(ValueError):
        QuietHours.parse(raw)


@pytest.mark.parametrize("clock,quiet", [
    (dt.time(21), True), (dt.time(23, 59), True), (dt.time(0), True), (dt.time(3), True),
    (dt.time(7, 59, 59), True), (dt.time(8), False), (dt.time(12), False), (dt.time(20, 59), False),
])
def test_overnight_quiet_hours_contain_the_night(clock, quiet):
    assert QuietHours.parse("21:00-08:00").contains(clock) is quiet


@pytest.mark.parametrize("clock,quiet", [
    (dt.time(12), True), (dt.time(13, 59), True), (dt.time(14), False), (dt.time(11, 59), False),
    (dt.time(23), False), (dt.time(0), False),
])
def test_same_day_quiet_hours_contain_only_that_span(clock, quiet):
    assert QuietHours.parse("12:00-14:00").contains(clock) is quiet


def _new_york(year, month, day, hour, minute=0, fold=0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, fold=fold, tzinfo=ZoneInfo(NEW_YORK)).astimezone(UTC)


def test_late_evening_waits_for_eight_the_next_morning_local():
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet.next_allowed(_new_york(2026, 11, 22, 23, 30), NEW_YORK) == _new_york(2026, 11, 23, 8)
    assert quiet.next_allowed(_new_york(2026, 11, 22, 23, 30), NEW_YORK) == dt.datetime(2026, 11, 23, 13, tzinfo=UTC)


def test_small_hours_wait_for_eight_the_same_morning_local():
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet.next_allowed(_new_york(2026, 11, 23, 3), NEW_YORK) == dt.datetime(2026, 11, 23, 13, tzinfo=UTC)


def test_daytime_is_sent_as_is():
    quiet = QuietHours.parse("21:00-08:00")
    noon = _new_york(2026, 11, 23, 12)
    assert quiet.next_allowed(noon, NEW_YORK) == noon
    assert quiet.next_allowed(_new_york(2026, 11, 23, 8), NEW_YORK) == _new_york(2026, 11, 23, 8)


def test_next_allowed_is_in_utc_and_uses_the_candidates_zone_not_the_servers():
    quiet = QuietHours.parse("21:00-08:00")
    moment = dt.datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # 22:30 in Berlin, 16:30 in New York
    berlin = quiet.next_allowed(moment, "Europe/Berlin")
    assert berlin == dt.datetime(2026, 11, 23, 7, tzinfo=UTC) and berlin.utcoffset() == dt.timedelta(0)
    assert quiet.next_allowed(moment, NEW_YORK) == moment


def test_next_allowed_across_the_spring_forward_night():
    # 8 March 2026: New York clocks jump from 02:00 EST to 03:00 EDT. 08:00 that morning is 12:00 UTC, not 13:00.
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet.next_allowed(_new_york(2026, 3, 7, 23, 30), NEW_YORK) == dt.datetime(2026, 3, 8, 12, tzinfo=UTC)
    assert quiet.next_allowed(_new_york(2026, 3, 8, 1, 30), NEW_YORK) == dt.datetime(2026, 3, 8, 12, tzinfo=UTC)
    assert quiet.next_allowed(_new_york(2026, 3, 8, 3, 30), NEW_YORK) == dt.datetime(2026, 3, 8, 12, tzinfo=UTC)


def test_next_allowed_across_the_fall_back_night():
    # 1 November 2026: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice; 08:00 that morning is 13:00 UTC.
    quiet = QuietHours.parse("21:00-08:00")
    first, second = _new_york(2026, 11, 1, 1, 30, fold=0), _new_york(2026, 11, 1, 1, 30, fold=1)
    assert second - first == dt.timedelta(hours=1)
    for moment in (first, second, _new_york(2026, 10, 31, 22)):
        assert quiet.next_allowed(moment, NEW_YORK) == dt.datetime(2026, 11, 1, 13, tzinfo=UTC)


def test_quiet_hours_ending_inside_the_skipped_hour_end_at_the_first_real_moment_after_it():
    # 02:30 does not exist on 8 March 2026 in New York; the wake-up is 07:30 UTC (03:30 EDT), an hour after 01:30.
    quiet = QuietHours.parse("21:00-02:30")
    wake = quiet.next_allowed(_new_york(2026, 3, 8, 1), NEW_YORK)
    assert wake == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert wake > _new_york(2026, 3, 8, 1)


def test_same_day_quiet_hours_end_the_same_day():
    quiet = QuietHours.parse("12:00-14:00")
    assert quiet.next_allowed(_new_york(2026, 11, 23, 13), NEW_YORK) == _new_york(2026, 11, 23, 14)


# --- the candidate's time zone ---------------------------------------------------------------------------


ACME = Company("Acme Robotics", timezone=NEW_YORK)


def test_explicit_candidate_time_zone_wins_over_the_phone():
    candidate = Candidate("c", "Lena Fischer", phone="+4915112345678", timezone="Asia/Tokyo")
    assert candidate_timezone(candidate, ACME) == "Asia/Tokyo"


def test_time_zone_from_the_phone_number():
    assert candidate_timezone(Candidate("c", "Lena Fischer", phone="+4915112345678"), ACME) == "Europe/Berlin"
    assert candidate_timezone(Candidate("c", "Diego Santos", phone="+13105550110"), ACME) == "America/Los_Angeles"


@pytest.mark.parametrize("candidate", [
    Candidate("c", "Nobody Known"),
    Candidate("c", "Nobody Known", phone="+61412345678"),  # Australia has several zones: the number can't tell
    Candidate("c", "Nobody Known", phone="not a number"),
    Candidate("c", "Nobody Known", timezone="Mars/Olympus_Mons"),
    Candidate("c", "Nobody Known", timezone=""),
], ids=["nothing", "ambiguous-country", "bad-phone", "bad-zone", "empty-zone"])
def test_company_time_zone_when_nothing_else_is_known(candidate):
    assert candidate_timezone(candidate, Company("Acme", timezone="Europe/Madrid")) == "Europe/Madrid"


def test_invalid_explicit_zone_falls_back_to_the_phone():
    candidate = Candidate("c", "Lena Fischer", phone="+4915112345678", timezone="Europe/Atlantis")
    assert candidate_timezone(candidate, ACME) == "Europe/Berlin"


def test_demo_candidates_time_zones(ats, company):
    zones = {cid: candidate_timezone(ats.get_candidate(cid), company) for cid in ("c1", "c5", "c9", "c10")}
    assert zones == {"c1": NEW_YORK, "c5": "Europe/London", "c9": "Europe/Berlin", "c10": "America/Los_Angeles"}


# --- who the candidate talks to us on --------------------------------------------------------------------


def test_contacts_remember_the_latest_channel(updates):
    assert updates.contact_for("c1") is None
    updates.record_contact("c1", "web", "conv-1", now=NOW)
    assert updates.contact_for("c1") == ("web", "conv-1")
    updates.record_contact("c1", SMS_CHANNEL, "sms-abc", now=NOW + dt.timedelta(minutes=5))
    assert updates.contact_for("c1") == (SMS_CHANNEL, "sms-abc")
    assert updates.contact_for("c2") is None


# --- planning an update ----------------------------------------------------------------------------------


def test_update_goes_by_sms_when_the_candidate_has_not_written_to_us(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    opt_outs = OptOuts()
    planned = updates.plan(application, candidate, company, opt_outs, now=NOW)
    assert (planned.outcome, planned.reason, planned.due_at, planned.channel) == ("queued", None, NOW, SMS_CHANNEL)
    assert opt_outs.asked == [PRIYA_PHONE]
    [row] = pending_rows(updates)
    assert row["conversation_id"] == sms_conversation(PRIYA_PHONE)
    assert PRIYA_PHONE not in row["conversation_id"]  # conversation ids are pseudonymous
    assert {k: row[k] for k in ("application_id", "stage", "candidate_id", "channel", "phone")} == {
        "application_id": "c1-j1-0", "stage": "Technical Interview", "candidate_id": "c1",
        "channel": SMS_CHANNEL, "phone": PRIYA_PHONE}


def test_update_goes_to_the_channel_the_candidate_last_used(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    updates.record_contact("c1", "web", "conv-1", now=NOW)
    opt_outs = OptOuts(PRIYA_PHONE)  # STOP is about texts: the web chat still gets the news
    planned = updates.plan(application, candidate, company, opt_outs, now=NOW)
    assert (planned.outcome, planned.channel) == ("queued", "web")
    assert opt_outs.asked == []
    [row] = pending_rows(updates)
    assert (row["conversation_id"], row["channel"], row["phone"]) == ("conv-1", "web", None)


def test_update_over_a_recorded_sms_conversation_carries_the_phone(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    updates.record_contact("c1", SMS_CHANNEL, "sms-from-inbound", now=NOW)
    assert updates.plan(application, candidate, company, never_opted_out, now=NOW).channel == SMS_CHANNEL
    [row] = pending_rows(updates)
    assert (row["conversation_id"], row["phone"]) == ("sms-from-inbound", PRIYA_PHONE)


def test_the_same_stage_is_announced_once(ats, company, updates, base_settings, tmp_path):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    assert updates.plan(application, candidate, company, never_opted_out, now=NOW).outcome == "queued"
    again = updates.plan(application, candidate, company, never_opted_out, now=NOW + dt.timedelta(minutes=1))
    assert (again.outcome, again.reason) == ("duplicate", "this stage was already handled")
    # A second replica with its own connection to the same database agrees.
    replica = StatusUpdates(open_state_db(tmp_path / "state.db"), base_settings, sms_conversation)
    assert replica.plan(application, candidate, company, never_opted_out, now=NOW).outcome == "duplicate"
    assert updates.updates.counts() == {"pending": 1}


def test_a_new_stage_of_the_same_application_is_announced_again(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    updates.plan(application, candidate, company, never_opted_out, now=NOW)
    moved = dataclasses.replace(application, stage="Onsite Loop", stage_changed=DEMO_TODAY)
    assert updates.plan(moved, candidate, company, never_opted_out, now=NOW).outcome == "queued"
    assert sorted(row["stage"] for row in pending_rows(updates)) == ["Onsite Loop", "Technical Interview"]


def test_a_rejection_is_left_to_people_by_default(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c3-j3-0")
    assert application.status == "rejected"
    planned = updates.plan(application, candidate, company, never_opted_out, now=NOW)
    assert planned.outcome == "skipped" and "STATUS_UPDATE_REJECTIONS" in planned.reason
    assert pending_rows(updates, NOW + dt.timedelta(days=1)) == []
    assert updates.updates.counts() == {"skipped": 1}
    # Recorded as handled: a repeated webhook does not reconsider it.
    assert updates.plan(application, candidate, company, never_opted_out, now=NOW).outcome == "duplicate"


def test_a_rejection_is_announced_when_the_company_turns_that_on(ats, company, make_updates):
    updates = make_updates(status_update_rejections=True)
    application, candidate = application_and_candidate(ats, "c3-j3-0")
    assert updates.plan(application, candidate, company, never_opted_out, now=NOW).outcome == "queued"
    [row] = pending_rows(updates)
    assert row["stage"] == "Portfolio Review (rejected)"


def test_a_rejection_at_an_already_announced_stage_is_news_of_its_own(ats, company, make_updates):
    updates = make_updates(status_update_rejections=True)
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    assert updates.plan(application, candidate, company, never_opted_out, now=NOW).outcome == "queued"
    rejected = dataclasses.replace(application, status="rejected")
    assert updates.plan(rejected, candidate, company, never_opted_out, now=NOW).outcome == "queued"


@pytest.mark.parametrize("application_id,status", [("c8-j2-1", "withdrawn"), ("c6-j5-0", "hired")])
@pytest.mark.parametrize("rejections", [False, True])
def test_withdrawals_and_hires_are_never_announced(ats, company, make_updates, application_id, status, rejections):
    updates = make_updates(status_update_rejections=rejections)
    application, candidate = application_and_candidate(ats, application_id)
    assert application.status == status
    planned = updates.plan(application, candidate, company, never_opted_out, now=NOW)
    assert planned.outcome == "skipped" and status in planned.reason
    assert pending_rows(updates) == []


def test_nothing_is_announced_when_status_updates_are_off(ats, company, make_updates):
    updates = make_updates(status_updates=False)
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    opt_outs = OptOuts()
    planned = updates.plan(application, candidate, company, opt_outs, now=NOW)
    assert planned.outcome == "skipped" and "STATUS_UPDATES" in planned.reason
    assert pending_rows(updates) == [] and opt_outs.asked == []


def test_a_number_that_texted_stop_gets_nothing(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    planned = updates.plan(application, candidate, company, OptOuts(PRIYA_PHONE), now=NOW)
    assert planned.outcome == "skipped" and "STOP" in planned.reason
    assert pending_rows(updates) == []


def test_an_opted_out_number_on_a_recorded_sms_conversation_gets_nothing(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    updates.record_contact("c1", SMS_CHANNEL, "sms-from-inbound", now=NOW)
    assert updates.plan(application, candidate, company, OptOuts(PRIYA_PHONE), now=NOW).outcome == "skipped"


def test_a_candidate_with_no_phone_and_no_conversation_is_skipped(company, updates):
    job = Job("j", "Data Engineer", stages=(Stage("Application Review"), Stage("Recruiter Screen")))
    candidate = Candidate("c-nophone", "Sam Park", email="sam@example.com")
    application = Application("a-nophone", candidate.id, job, "Recruiter Screen", DEMO_TODAY, "active")
    planned = updates.plan(application, candidate, company, never_opted_out, now=NOW)
    assert (planned.outcome, planned.reason) == ("skipped", "no channel to reach the candidate on")
    assert pending_rows(updates) == []
    # Once they write to us on the web, the next stage reaches them there.
    updates.record_contact(candidate.id, "web", "conv-sam", now=NOW)
    moved = dataclasses.replace(application, stage="Application Review")
    assert updates.plan(moved, candidate, company, never_opted_out, now=NOW).channel == "web"


def test_news_in_the_small_hours_waits_for_the_morning(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    two_am = _new_york(2026, 11, 23, 2)
    planned = updates.plan(application, candidate, company, never_opted_out, now=two_am)
    morning = _new_york(2026, 11, 23, 8)
    assert (planned.outcome, planned.reason, planned.due_at) == ("queued", "quiet hours", morning)
    assert updates.updates.claim_due(two_am + dt.timedelta(minutes=5)) == []
    assert updates.updates.claim_due(morning - dt.timedelta(seconds=1)) == []
    [item] = updates.updates.claim_due(morning + dt.timedelta(minutes=1))
    assert item.fields["application_id"] == "c1-j1-0"


def test_quiet_hours_are_the_candidates_own(ats, company, updates):
    # Lena's German number: 22:30 in Berlin is quiet, although it is 16:30 at the company in New York.
    application, candidate = application_and_candidate(ats, "c9-j5-0")
    planned = updates.plan(application, candidate, company, never_opted_out,
                           now=dt.datetime(2026, 11, 22, 21, 30, tzinfo=UTC))
    assert planned.due_at == dt.datetime(2026, 11, 23, 7, tzinfo=UTC)  # 08:00 in Berlin


def test_without_quiet_hours_news_goes_at_once(ats, company, make_updates):
    updates = make_updates(quiet_hours="off")
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    two_am = _new_york(2026, 11, 23, 2)
    planned = updates.plan(application, candidate, company, never_opted_out, now=two_am)
    assert (planned.outcome, planned.reason, planned.due_at) == ("queued", None, two_am)
    assert len(updates.updates.claim_due(two_am)) == 1


# --- at delivery time ------------------------------------------------------------------------------------


def test_an_update_is_still_current_only_while_the_application_sits_in_that_stage(ats, updates):
    application, _ = application_and_candidate(ats, "c1-j1-0")
    rejected = dataclasses.replace(application, status="rejected")
    assert updates.still_current(application, "Technical Interview")
    assert not updates.still_current(dataclasses.replace(application, stage="Onsite Loop"), "Technical Interview")
    assert not updates.still_current(rejected, "Technical Interview")
    assert updates.still_current(rejected, "Technical Interview (rejected)")
    assert not updates.still_current(None, "Technical Interview")


def test_still_current_against_what_was_queued(ats, company, updates):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    updates.plan(application, candidate, company, never_opted_out, now=NOW)
    [row] = pending_rows(updates)
    assert updates.still_current(ats.get_application("c1-j1-0"), row["stage"])
    assert not updates.still_current(ats.get_application("no-such-application"), row["stage"])


# --- what the candidate is told --------------------------------------------------------------------------


def test_an_interview_stage_offers_to_book(ats, company):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    reply = update_reply(application, candidate, company)
    for expected in ("Hi Priya,", "Acme Robotics", "Machine Learning Engineer", "Technical Interview stage",
                     "60-minute video interview",  # the recruiter's own explanation from the seed
                     "5 to 10 days", "next step is the Onsite Loop stage", "book your interview"):
        assert expected in reply.text
    assert [(b.title, b.payload) for b in reply.buttons] == [("Book my interview", "/book_interview"),
                                                               ("Not now", "/deny")]


def test_the_stage_is_matched_whatever_its_case(ats, company):
    application, candidate = application_and_candidate(ats, "c1-j1-0")
    reply = update_reply(dataclasses.replace(application, stage="technical interview"), candidate, company)
    assert [b.payload for b in reply.buttons] == ["/book_interview", "/deny"]


def test_a_stage_without_an_interview_has_no_buttons(ats, company):
    application, candidate = application_and_candidate(ats, "c2-j5-1")  # James: Application Review
    reply = update_reply(application, candidate, company)
    assert reply.buttons == ()
    assert "Hi James," in reply.text and "Senior Backend Engineer" in reply.text
    assert "Application Review stage" in reply.text and "book" not in reply.text.lower()
    assert reply.text.endswith("Reply here any time if you have questions.")


def test_an_interview_the_recruiter_arranges_names_the_recruiter(ats, company):
    # The Data Engineer job's Technical Interview is an interview, but not one candidates book themselves.
    application, candidate = application_and_candidate(ats, "c2-j2-0")
    at_technical = dataclasses.replace(application, stage="Technical Interview")
    reply = update_reply(at_technical, candidate, company)
    assert reply.buttons == ()
    assert "Marcus will be in touch to set up the interview." in reply.text
    no_recruiter = update_reply(dataclasses.replace(at_technical, recruiter=None), candidate, company)
    assert "Your recruiter will be in touch" in no_recruiter.text


def test_a_rejection_is_kind_names_the_recruiter_and_explains_no_stage(ats, company):
    application, candidate = application_and_candidate(ats, "c3-j3-0")
    reply = update_reply(application, candidate, company)
    assert "Hi Mei," in reply.text and "Product Designer" in reply.text and "Acme Robotics" in reply.text
    assert "not to move forward" in reply.text and "Sofia will get back to you" in reply.text
    assert "stage" not in reply.text.lower() and "Portfolio Review" not in reply.text
    assert "This means" not in reply.text and "usually takes" not in reply.text
    assert reply.buttons == ()


def test_a_rejection_without_a_recruiter_points_to_the_team(ats, company):
    application, candidate = application_and_candidate(ats, "c3-j3-0")
    reply = update_reply(dataclasses.replace(application, recruiter=None), candidate, company)
    assert "our recruiting team will get back to you" in reply.text


def test_every_update_for_every_demo_stage_is_plain_gsm7(ats, company):
    candidate = ats.get_candidate("c1")
    recruiter = ats.get_recruiter("r1")
    texts = []
    for job in ats.list_jobs():
        for stage in job.stages:
            for status in ("active", "rejected"):
                application = Application(f"{job.id}-{stage.name}", "c1", job, stage.name, DEMO_TODAY, status,
                                          recruiter)
                texts.append(update_reply(application, candidate, company).text)
    for application_id in ("c1-j1-0", "c2-j2-0", "c2-j5-1", "c3-j3-0", "c4-j4-0", "c5-j1-0", "c9-j5-0", "c10-j1-0"):
        texts.append(update_reply(*application_and_candidate(ats, application_id), company).text)
    assert len(texts) > 40
    assert [text for text in texts if not is_gsm7(text)] == []


def test_stage_names_the_guide_knows_are_explained_in_gsm7(company):
    candidate = Candidate("c", "Alex Doe", phone=PRIYA_PHONE)
    names = ["Recruiter Phone Screen", "Hiring Manager Chat", "Take-home Assignment", "System Design",
             "Final Panel", "Reference Check", "Background Check", "Offer", "Hired", "Something Unusual"]
    job = Job("j", "Analyst", stages=tuple(Stage(name) for name in names))
    for name in names:
        text = update_reply(Application("a", "c", job, name, DEMO_TODAY, "active"), candidate, company).text
        assert is_gsm7(text), text


# --- stale applications ----------------------------------------------------------------------------------


def nudge_rows(updates: StatusUpdates) -> dict[str, dict]:
    return {item.fields["application_id"]: item.fields for item in updates.nudges.claim_due(NOW)}


def candidate_names(ats) -> dict[str, str]:
    return {cid: ats.get_candidate(cid).name for cid in ("c1", "c2", "c5", "c8", "c9", "c10")}


def test_applications_waiting_too_long_are_nudged_once(ats, updates):
    applications = ats.active_applications()
    assert updates.nudge_stale(applications, DEMO_TODAY, candidate_names(ats), now=NOW) == 2
    assert updates.nudge_stale(applications, DEMO_TODAY, candidate_names(ats), now=NOW) == 0
    # A day later Lena's Technical Interview (since 16 Nov) reaches a week; the two already nudged stay quiet.
    assert updates.nudge_stale(applications, DEMO_TODAY + dt.timedelta(days=1), candidate_names(ats), now=NOW) == 1
    rows = nudge_rows(updates)
    # Priya: 12 days at the Technical Interview; Omar: since 1 October. Fresh ones (3 to 6 days) were left alone.
    assert set(rows) == {"c1-j1-0", "c8-j4-0", "c9-j5-0"}
    assert (rows["c1-j1-0"]["recruiter_slack_id"], rows["c8-j4-0"]["recruiter_slack_id"]) == ("U0DANA", "U0MARCUS")
    assert "for 7 days" in rows["c9-j5-0"]["body"] and rows["c9-j5-0"]["body"].startswith("Lena Fischer")


def test_the_nudge_names_candidate_stage_job_and_days(ats, updates):
    updates.nudge_stale([ats.get_application("c1-j1-0")], DEMO_TODAY, {"c1": "Priya Nair"}, now=NOW)
    [item] = updates.nudges.claim_due(NOW)
    assert item.conversation_id == "application:c1-j1-0"
    assert item.fields["stage"] == "Technical Interview"
    assert item.fields["body"] == (
        "Priya Nair has been in Technical Interview for Machine Learning Engineer for 12 days (since Nov 10). "
        "Could you move the application on or let them know where things stand? (application c1-j1-0)")


def test_a_nudge_without_a_known_name_still_reads_well(ats):
    application = ats.get_application("c8-j4-0")
    text = stale_nudge_text(application, "A candidate", 52)
    assert text.startswith("A candidate has been in Application Review for Customer Success Manager for 52 days")
    assert "(since Oct 1)" in text


def test_nudge_uses_a_default_name_when_the_candidate_is_unknown(ats, updates):
    updates.nudge_stale([ats.get_application("c8-j4-0")], DEMO_TODAY, {}, now=NOW)
    [item] = updates.nudges.claim_due(NOW)
    assert item.fields["body"].startswith("A candidate has been in Application Review")


def test_the_threshold_is_inclusive(ats, updates):
    application = ats.get_application("c1-j1-0")
    exactly = dataclasses.replace(application, id="seven", stage_changed=DEMO_TODAY - dt.timedelta(days=7))
    almost = dataclasses.replace(application, id="six", stage_changed=DEMO_TODAY - dt.timedelta(days=6))
    today = dataclasses.replace(application, id="today", stage_changed=DEMO_TODAY)
    assert updates.nudge_stale([exactly, almost, today], DEMO_TODAY, {}, now=NOW) == 1
    assert set(nudge_rows(updates)) == {"seven"}


def test_only_active_applications_are_nudged(ats, updates):
    old = DEMO_TODAY - dt.timedelta(days=60)
    applications = [dataclasses.replace(ats.get_application("c1-j1-0"), id=f"x-{status}", status=status,
                                        stage_changed=old) for status in ("rejected", "hired", "withdrawn")]
    assert updates.nudge_stale(applications, DEMO_TODAY, {}, now=NOW) == 0


def test_a_new_stage_can_be_nudged_again(ats, updates):
    application = ats.get_application("c1-j1-0")
    assert updates.nudge_stale([application], DEMO_TODAY, {}, now=NOW) == 1
    moved = dataclasses.replace(application, stage="Onsite Loop", stage_changed=DEMO_TODAY - dt.timedelta(days=9))
    assert updates.nudge_stale([moved], DEMO_TODAY, {}, now=NOW) == 1


def test_fractional_thresholds_are_compared_with_whole_days(ats, make_updates):
    updates = make_updates(stale_application_days=2.5)
    application = ats.get_application("c1-j1-0")
    two = dataclasses.replace(application, id="two", stage_changed=DEMO_TODAY - dt.timedelta(days=2))
    three = dataclasses.replace(application, id="three", stage_changed=DEMO_TODAY - dt.timedelta(days=3))
    assert updates.nudge_stale([two, three], DEMO_TODAY, {}, now=NOW) == 1
    assert set(nudge_rows(updates)) == {"three"}


@pytest.mark.parametrize("days", [0, -1, 0.0])
def test_nudges_can_be_turned_off(ats, make_updates, days):
    updates = make_updates(stale_application_days=days)
    assert updates.nudge_stale(ats.active_applications(), DEMO_TODAY, {}, now=NOW) == 0
    assert updates.nudges.counts() == {}


def test_nudge_without_a_recruiter_has_no_slack_id(ats, updates):
    application = dataclasses.replace(ats.get_application("c1-j1-0"), recruiter=None)
    updates.nudge_stale([application], DEMO_TODAY, {}, now=NOW)
    [item] = updates.nudges.claim_due(NOW)
    assert item.fields["recruiter_slack_id"] is None


# --- ATS events ------------------------------------------------------------------------------------------


def test_ats_events_for_one_application_are_processed_in_order(updates):
    updates.receive_event("greenhouse", "c1-j1-0", "Technical Interview", now=NOW)
    updates.receive_event("generic", "c1-j1-0", "Onsite Loop", now=NOW)
    updates.receive_event("lever", "c2-j2-0", now=NOW)
    first = updates.events.claim_due(NOW)
    assert [(i.conversation_id, i.fields["source"], i.fields["stage"]) for i in first] == [
        ("application:c1-j1-0", "greenhouse", "Technical Interview"), ("application:c2-j2-0", "lever", None)]
    updates.events.finish(first[0].id, "sent")
    [second] = updates.events.claim_due(NOW + dt.timedelta(seconds=1))
    assert (second.fields["source"], second.fields["stage"]) == ("generic", "Onsite Loop")


def test_recruiter_first_name_is_what_a_rejection_uses(ats, company):
    application, candidate = application_and_candidate(ats, "c3-j3-0")
    with_recruiter = dataclasses.replace(application, recruiter=Recruiter("r9", "Ana María López", "ana@x.example"))
    assert "Ana will get back to you" in update_reply(with_recruiter, candidate, company).text
