"""The handoff desk on real SQLite, business hours, and what recruiters and candidates are shown."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from bot.business_hours import BusinessHours, reply_expectation
from bot.handoff import HandoffCard, HandoffDesk, HandoffRules, card_for, trim_transcript
from bot.handoff_cards import (
    CLAIM,
    CLOSE,
    HAND_BACK,
    candidate_notice,
    candidate_thread_text,
    card_blocks,
    card_text,
    mrkdwn_escape,
    opened_notice,
    plain_text,
)
from bot.identity import VerifiedSender
from bot.status import load_status_context

UTC = dt.timezone.utc
NEW_YORK = BusinessHours.parse("Mon-Fri 09:00-17:00", "America/New_York")
# Thursday 26 Nov 2026, 15:00 UTC = 10:00 in New York: open.
OPEN = dt.datetime(2026, 11, 26, 15, tzinfo=UTC)
RULES = HandoffRules(slack_enabled=True, claim_within=dt.timedelta(minutes=15), hours=NEW_YORK)


@pytest.fixture()
def desk(state_engine) -> HandoffDesk:
    return HandoffDesk(state_engine, RULES)


def _card(reason: str = "requested_by_candidate") -> HandoffCard:
    return HandoffCard(reason, "twilio", candidate_name="Priya Sharma", role="Machine Learning Engineer",
                       stage="Technical Interview", recruiter_slack_id="U0DANA",
                       transcript=(("candidate", "can I talk to a human"),))


def _drain(queue, now: dt.datetime = OPEN) -> list:
    """Everything queued, in delivery order (one row per conversation at a time, as the loop sends them)."""
    items = []
    while batch := queue.claim_due(now=now, limit=100):
        for item in batch:
            queue.finish(item.id, "sent")
        items += batch
    return items


def _kinds(queue) -> list[str]:
    return [item.fields["kind"] for item in _drain(queue)]


# --- business hours ---------------------------------------------------------------------------

def test_business_hours_know_when_the_team_is_in():
    assert NEW_YORK.is_open(OPEN)
    assert not NEW_YORK.is_open(dt.datetime(2026, 11, 26, 23, tzinfo=UTC))  # 18:00 in New York
    assert not NEW_YORK.is_open(dt.datetime(2026, 11, 28, 15, tzinfo=UTC))  # Saturday
    friday_evening = dt.datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert NEW_YORK.next_opening(friday_evening) == dt.datetime(2026, 11, 30, 9, tzinfo=NEW_YORK.zone)


def test_claim_deadlines_count_working_time_only():
    # 16:50 on Friday + 15 working minutes = Monday 09:05.
    late_friday = dt.datetime(2026, 11, 27, 16, 50, tzinfo=NEW_YORK.zone)
    assert NEW_YORK.add_working_time(late_friday, dt.timedelta(minutes=15)) == \
        dt.datetime(2026, 11, 30, 9, 5, tzinfo=NEW_YORK.zone)
    # Across the spring daylight-saving change the opening stays at 09:00 local time.
    before_dst = dt.datetime(2027, 3, 12, 22, tzinfo=UTC)  # Friday 17:00 EST
    opening = NEW_YORK.next_opening(before_dst)
    assert (opening.hour, opening.utcoffset()) == (9, dt.timedelta(hours=-4))


@pytest.mark.parametrize(("spec", "days"), [("Mon-Fri 09:00-17:00", {0, 1, 2, 3, 4}), ("Sun-Tue 8:30-12:00", {6, 0, 1}),
                                            ("Sat 10:00-14:00", {5})])
def test_business_hours_are_read_from_a_short_spec(spec, days):
    assert set(BusinessHours.parse(spec, "Europe/Berlin").days) == days


@pytest.mark.parametrize("spec", ["", "weekdays 9-5", "Mon-Fri 17:00-09:00", "Mon-Fry 09:00-17:00"])
def test_a_wrong_business_hours_spec_is_a_clear_error(spec):
    with pytest.raises(ValueError, match="business hours"):
        BusinessHours.parse(spec, "UTC")


def test_the_candidate_hears_an_honest_expectation():
    assert reply_expectation(NEW_YORK, OPEN, dt.timedelta(minutes=15)) == \
        "A recruiter usually picks this up within 15 minutes."
    evening = dt.datetime(2026, 11, 26, 23, tzinfo=UTC)
    assert "back tomorrow at 9 AM EST" in reply_expectation(NEW_YORK, evening, dt.timedelta(minutes=15))
    saturday = dt.datetime(2026, 11, 28, 15, tzinfo=UTC)
    assert "back Monday at 9 AM EST" in reply_expectation(NEW_YORK, saturday, dt.timedelta(minutes=15))


# --- the desk ---------------------------------------------------------------------------------

def test_opening_twice_gives_one_handoff_and_one_card(desk):
    first, created = desk.open("conv-1", "twilio", _card(), candidate_id="c1", now=OPEN)
    again, created_again = desk.open("conv-1", "twilio", _card("sensitive_topic"), now=OPEN)
    assert created and not created_again and again.id == first.id
    assert first.status == "waiting" and first.takes_over
    assert first.claim_due_at == OPEN + dt.timedelta(minutes=15)
    assert _kinds(desk.slack) == ["card"]


def test_two_processes_opening_at_once_still_give_one_live_handoff(tmp_path):
    from bot.store import open_state_db

    engine = open_state_db(tmp_path / "race.db")
    results, barrier = [], threading.Barrier(8)

    def open_one() -> None:
        barrier.wait()
        results.append(HandoffDesk(engine, RULES).open("conv-race", "twilio", _card(), now=OPEN))

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({handoff.id for handoff, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(HandoffDesk(engine, RULES).listing()) == 1


def test_unknown_reasons_are_refused(desk):
    with pytest.raises(ValueError, match="unknown handoff reason"):
        desk.open("conv-1", "twilio", HandoffCard("bored", "twilio"))


def test_without_slack_the_handoff_is_queued_but_does_not_take_over(state_engine):
    desk = HandoffDesk(state_engine, HandoffRules(slack_enabled=False, hours=NEW_YORK))
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    assert not handoff.takes_over
    assert desk.relay_from_candidate("conv-1", "hello?") is None
    assert desk.slack.counts() == {}


def test_candidate_messages_go_to_the_thread_while_live(desk):
    desk.open("conv-1", "twilio", _card(), now=OPEN)
    assert desk.relay_from_candidate("conv-1", "are you there?", now=OPEN) is not None
    assert desk.relay_from_candidate("conv-other", "hello") is None
    assert [(i.fields["kind"], i.fields["body"]) for i in _drain(desk.slack)] == [("card", None),
                                                                    ("thread", "*Candidate:* are you there?")]


def test_claim_once_and_say_who_has_it(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    first = desk.claim(handoff.id, "U0DANA", now=OPEN)
    second = desk.claim(handoff.id, "U0MARCUS", now=OPEN)
    assert first.changed and first.handoff.claimed_by == "U0DANA"
    assert not second.changed and "<@U0DANA> already has this conversation" in second.note
    assert _kinds(desk.deliveries) == ["claimed"]


def test_recruiter_replies_are_relayed_once_and_a_reply_claims(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    desk.card_posted(handoff.id, "D0DANA", "1732620000.000100")
    outcome = desk.recruiter_reply("D0DANA", "1732620000.000100", "U0DANA", "Hi Priya!", "D0DANA:1.1", now=OPEN)
    retried = desk.recruiter_reply("D0DANA", "1732620000.000100", "U0DANA", "Hi Priya!", "D0DANA:1.1", now=OPEN)
    assert outcome.changed and outcome.handoff.status == "claimed" and outcome.handoff.claimed_by == "U0DANA"
    assert not retried.changed
    assert [(d.fields["kind"], d.fields["body"]) for d in _drain(desk.deliveries)] == [
        ("claimed", None), ("reply", "Hi Priya!")]
    assert desk.recruiter_reply("C0OTHER", "1.0", "U0DANA", "hi", "x").handoff is None


def test_hand_back_and_close_end_the_handoff_once_and_tell_the_candidate(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    desk.claim(handoff.id, "U0DANA", now=OPEN)
    assert desk.hand_back(handoff.id, "U0DANA", now=OPEN).changed
    assert not desk.close(handoff.id, "U0DANA", now=OPEN).changed
    assert desk.get(handoff.id).status == "returned" and desk.live_for("conv-1") is None
    assert _kinds(desk.deliveries) == ["claimed", "returned"]
    # A new request after the hand back is a new handoff with its own card.
    again, created = desk.open("conv-1", "twilio", _card(), now=OPEN)
    assert created and again.id != handoff.id


def test_a_reply_after_the_hand_back_is_not_sent_and_the_recruiter_is_told(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    desk.card_posted(handoff.id, "D0DANA", "1.0")
    desk.close(handoff.id, "U0DANA", now=OPEN)
    outcome = desk.recruiter_reply("D0DANA", "1.0", "U0DANA", "one more thing", "D0DANA:1.5", now=OPEN)
    assert not outcome.changed
    assert _kinds(desk.deliveries) == ["closed"]
    bodies = [item.fields["body"] or "" for item in _drain(desk.slack)]
    assert any("was not sent" in body for body in bodies)


def test_only_the_claimer_or_the_cards_recruiter_can_hand_back_or_close(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)  # the card names U0DANA
    desk.claim(handoff.id, "U0MARCUS", now=OPEN)
    before = (_kinds(desk.slack), _kinds(desk.deliveries))
    for step in (desk.hand_back, desk.close):
        refused = step(handoff.id, "U0STRANGER", now=OPEN)
        assert not refused.changed and refused.refused and refused.held_by == "U0MARCUS"
    assert desk.get(handoff.id).status == "claimed" and desk.get(handoff.id).claimed_by == "U0MARCUS"
    assert (desk.slack.counts(), desk.deliveries.counts()) == ({"sent": len(before[0])}, {"sent": len(before[1])})
    assert desk.close(handoff.id, "U0DANA", now=OPEN).changed  # the candidate's own recruiter may
    other, _ = desk.open("conv-2", "twilio", _card(), now=OPEN)
    desk.claim(other.id, "U0MARCUS", now=OPEN)
    assert desk.hand_back(other.id, "U0MARCUS", now=OPEN).changed  # and so may the one who claimed it


def test_a_reply_in_a_thread_someone_else_claimed_is_refused_and_not_relayed(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    desk.card_posted(handoff.id, "C0RECRUIT", "1.0")
    taken = desk.recruiter_reply("C0RECRUIT", "1.0", "U0MARCUS", "Hi, Marcus here", "C0RECRUIT:1.1", now=OPEN)
    assert taken.changed and taken.handoff.claimed_by == "U0MARCUS"  # a reply to a waiting handoff claims it
    refused = desk.recruiter_reply("C0RECRUIT", "1.0", "U0STRANGER", "I'll take it", "C0RECRUIT:1.2", now=OPEN)
    assert not refused.changed and refused.refused and refused.held_by == "U0MARCUS"
    assert desk.recruiter_reply("C0RECRUIT", "1.0", "U0DANA", "Dana too", "C0RECRUIT:1.3", now=OPEN).changed
    assert [(d.fields["kind"], d.fields["recruiter"], d.fields["body"]) for d in _drain(desk.deliveries)] == [
        ("claimed", "U0MARCUS", None), ("reply", "U0MARCUS", "Hi, Marcus here"), ("reply", "U0DANA", "Dana too")]
    assert desk.get(handoff.id).claimed_by == "U0MARCUS"


def test_a_recruiter_known_only_by_email_is_matched_by_who_claimed_it(desk):
    card = HandoffCard("requested_by_candidate", "twilio", candidate_name="Priya Sharma",
                       recruiter_email="dana@acme.example")
    handoff, _ = desk.open("conv-1", "twilio", card, now=OPEN)
    desk.claim(handoff.id, "U0DANA", now=OPEN)
    assert desk.close(handoff.id, "U0MARCUS", now=OPEN).held_by == "U0DANA"
    assert desk.close(handoff.id, "U0DANA", now=OPEN).changed


def test_anyone_may_close_a_handoff_nobody_has_claimed(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    closed = desk.close(handoff.id, "U0MARCUS", now=OPEN)  # anyone could claim it first anyway
    assert closed.changed and not closed.refused


def test_the_candidate_can_end_it_and_the_thread_hears_so(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    ended = desk.end_by_candidate("conv-1", now=OPEN)
    assert ended.status == "closed" and ended.ended_by == "candidate"
    assert desk.deliveries.counts() == {}  # the bot tells the candidate itself, in its reply
    assert _kinds(desk.slack) == ["card", "thread", "update_card"]


def test_unclaimed_handoffs_are_escalated_once(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    claimed, _ = desk.open("conv-2", "twilio", _card(), now=OPEN)
    desk.claim(claimed.id, "U0DANA", now=OPEN)
    assert desk.escalate_overdue(now=OPEN + dt.timedelta(minutes=10)) == []
    late = OPEN + dt.timedelta(minutes=16)
    assert [h.id for h in desk.escalate_overdue(now=late)] == [handoff.id]
    assert desk.escalate_overdue(now=late + dt.timedelta(hours=1)) == []
    kinds = [(d.conversation_id, d.fields["kind"]) for d in _drain(desk.deliveries, late)]
    assert ("conv-1", "escalated") in kinds and ("conv-2", "escalated") not in kinds


# --- what the recruiter sees ------------------------------------------------------------------

def test_the_card_shows_the_verified_candidate_role_stage_reason_and_last_messages(desk):
    handoff, _ = desk.open("conv-1", "twilio", _card(), now=OPEN)
    rendered = json.dumps(card_blocks(handoff))
    for expected in ("Priya Sharma", "Machine Learning Engineer", "Technical Interview", "SMS",
                     "The candidate asked to talk to a person", "can I talk to a human"):
        assert expected in rendered
    buttons = [b["action_id"] for block in card_blocks(handoff) if block["type"] == "actions"
               for b in block["elements"]]
    assert buttons == [CLAIM, HAND_BACK, CLOSE]
    desk.claim(handoff.id, "U0DANA", now=OPEN)
    claimed = desk.get(handoff.id)
    buttons = [b["action_id"] for block in card_blocks(claimed) if block["type"] == "actions"
               for b in block["elements"]]
    assert buttons == [HAND_BACK, CLOSE] and "With <@U0DANA>" in json.dumps(card_blocks(claimed))
    desk.close(handoff.id, "U0DANA", now=OPEN)
    assert not [b for b in card_blocks(desk.get(handoff.id)) if b["type"] == "actions"]


def test_an_unverified_sender_card_has_no_application_data(ats):
    card, application = card_for("requested_by_candidate", "twilio", None, [("candidate", "human pls")])
    assert application is None and card.candidate_name is None and card.role is None and card.stage is None
    context = load_status_context(ats, VerifiedSender("twilio", phone="+16175550101"))
    verified, chosen = card_for("requested_by_candidate", "twilio", context, [])
    assert verified.candidate_name == "Priya Nair" and verified.role == chosen.job.title
    assert verified.recruiter_slack_id == "U0DANA"


def test_transcripts_are_short_and_recent():
    turns = [("candidate", f"message {n}") for n in range(20)] + [("assistant", "x" * 1000), ("candidate", "  ")]
    kept = trim_transcript(turns)
    assert len(kept) == 8 and kept[-1][1].endswith("\u2026") and len(kept[-1][1]) == 400
    assert kept[0] == ("candidate", "message 13")


def test_card_text_is_escaped_for_slack(desk):
    card = HandoffCard("requested_by_candidate", "twilio", transcript=(("candidate", "<!channel> & <@U1>"),))
    handoff, _ = desk.open("conv-x", "twilio", card, now=OPEN)
    rendered = json.dumps(card_blocks(handoff))
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in rendered and "<!channel>" not in rendered


def test_candidate_words_cannot_mention_or_link_anyone_in_slack(desk):
    hostile = "<!channel> <@U123> <https://evil.example|click> & co"
    escaped = "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; co"
    assert mrkdwn_escape(hostile) == escaped
    assert candidate_thread_text(hostile) == f"*Candidate:* {escaped}"
    handoff, _ = desk.open("conv-x", "twilio", HandoffCard("requested_by_candidate", "twilio", candidate_name=hostile),
                           now=OPEN)
    assert card_text(handoff).startswith(f"{escaped} needs a recruiter")
    assert card_text(handoff, escalated=True).startswith(f"No one has claimed this yet: {escaped}")


# --- what the candidate reads -----------------------------------------------------------------

@pytest.mark.parametrize(("slack", "plain"), [
    ("Hi <@U0PRIYA>, see <https://acme.example/prep|the prep guide>", "Hi , see the prep guide (https://acme.example/prep)"),
    ("mail <mailto:careers@acme.example|careers@acme.example>", "mail careers@acme.example"),
    ("salary &gt; 100k &amp; equity", "salary > 100k & equity"),
    ("<https://acme.example>", "https://acme.example"),
])
def test_recruiter_messages_read_as_plain_text(slack, plain):
    assert plain_text(slack) == plain


def test_candidate_notices_name_the_recruiter_by_first_name():
    assert candidate_notice("reply", "Dana Lee", "Hi!", None) == "Dana: Hi!"
    assert candidate_notice("reply", None, "Hi!", None) == "Recruiter: Hi!"
    assert candidate_notice("claimed", "Dana Lee", None, None).startswith("Dana from the recruiting team has joined")
    assert "email careers@acme.example" in candidate_notice("escalated", None, None, "careers@acme.example")
    assert "handed you back to me" in candidate_notice("returned", "Dana Lee", None, None)
    assert "that's all" in opened_notice("requested_by_candidate", "A recruiter usually ...", already_open=False)
    assert opened_notice("requested_by_candidate", "Soon.", already_open=True).startswith("A recruiter has already")
