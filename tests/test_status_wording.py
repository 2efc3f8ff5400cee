"""What a verified candidate is told about their applications, for every kind of application."""

from __future__ import annotations

import pytest

from bot.sms import is_gsm7
from bot.status import UNCOMMUNICATED_REJECTION, status_answer
from tests.conftest import DEMO_TODAY


def answer_for(ats, candidate_id, role=None, message=None):
    candidate = ats.get_candidate(candidate_id)
    return status_answer(candidate, ats.applications_for(candidate_id), ats.company(), DEMO_TODAY, role=role,
                         message=message)


def test_one_active_application_is_explained_in_full(ats):
    [reply] = answer_for(ats, "c1").replies
    text = reply.text
    assert text.startswith("Hi Priya!")
    assert "Machine Learning Engineer" in text
    assert "Technical Interview stage (since Nov 10, 12 days ago)" in text
    assert "60-minute video interview" in text  # the recruiter's own explanation from the seed
    assert "next step is the Onsite Loop stage" in text
    assert "usually takes 5 to 10 days" in text
    assert "Your recruiter is Dana Lee." in text
    # 12 days is past the usual 10: the candidate is offered a nudge to the recruiter
    assert "longer than usual" in text and [b.payload for b in reply.buttons] == ["/request_human"]


def test_several_applications_are_summarised_with_a_choice(ats):
    [reply] = answer_for(ats, "c2").replies
    assert "You have 2 applications with Acme Robotics" in reply.text
    assert "- Data Engineer: Recruiter Screen (since Nov 19, 3 days ago)" in reply.text
    assert "- Senior Backend Engineer: Application Review" in reply.text
    assert [b.payload for b in reply.buttons] == [
        '/check_status{"role": "Data Engineer"}', '/check_status{"role": "Senior Backend Engineer"}',
    ]


@pytest.mark.parametrize("role", ["data eng", "the data engineer job", "Data Engneer", "DATA ENGINEER"])
def test_a_named_role_picks_that_application(ats, role):
    [reply] = answer_for(ats, "c2", role=role).replies
    assert "Your application for Data Engineer is at the Recruiter Screen stage" in reply.text
    assert "Marcus Okafor" in reply.text and "Senior Backend" not in reply.text


def test_a_role_named_in_the_message_picks_that_application_without_an_entity(ats):
    [reply] = answer_for(ats, "c2", message="any news on my backend eng application?").replies
    assert "Your application for Senior Backend Engineer is at the Application Review stage" in reply.text


def test_an_unmatched_role_says_so_and_lists_all(ats):
    [reply] = answer_for(ats, "c2", role="astronaut").replies
    assert "couldn't tell which application you meant" in reply.text and len(reply.buttons) == 2


def test_an_uncommunicated_rejection_is_never_revealed(ats):
    answer = answer_for(ats, "c3")
    text = " ".join(reply.text for reply in answer.replies).lower()
    for word in ("reject", "closed", "not to move forward", "unfortunately", "portfolio review", "sorry"):
        assert word not in text
    assert "asked your recruiter to get in touch" in text
    assert [(h.application_id, h.reason) for h in answer.handoffs] == [("c3-j3-0", UNCOMMUNICATED_REJECTION)]


def test_a_communicated_rejection_is_told_kindly(ats):
    [reply] = answer_for(ats, "c4").replies
    assert "has closed" in reply.text and "decided not to move forward" in reply.text
    assert "https://careers.acme.example" in reply.text
    assert answer_for(ats, "c4").handoffs == ()


def test_hired_offer_and_withdrawn(ats):
    assert "Congratulations" in answer_for(ats, "c6").replies[0].text
    offer = answer_for(ats, "c5").replies[0].text
    assert "Offer stage" in offer and "written offer" in offer
    omar = answer_for(ats, "c8").replies[0].text
    assert "- Customer Success Manager: Application Review (since Oct 1, 52 days ago)\n" in omar
    assert "- Data Engineer: withdrawn (Oct 20)" in omar


def test_no_applications_is_said_kindly_with_a_way_forward(ats):
    [reply] = answer_for(ats, "c7").replies
    assert "can't find an application from you" in reply.text and reply.buttons[0].payload == "/request_human"


@pytest.mark.parametrize("candidate_id", ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"])
def test_status_wording_stays_in_the_sms_alphabet(ats, candidate_id):
    # One character outside GSM-7 makes every segment of the SMS 70 characters instead of 160.
    for reply in answer_for(ats, candidate_id).replies:
        assert is_gsm7(reply.text), [ch for ch in reply.text if not is_gsm7(ch)]
