"""Answers about roles from live job data, and which role a question means."""

from __future__ import annotations

import pytest

from bot.job_answers import answer_about_role, resolve_role, which_role
from bot.sms import is_gsm7


@pytest.fixture()
def jobs(ats):
    return ats.list_jobs()


def titled(jobs, title):
    return next(job for job in jobs if job.title == title)


@pytest.mark.parametrize(("role", "title"), [
    ("ML engineer", "Machine Learning Engineer"), ("machine lerning engineer", "Machine Learning Engineer"),
    ("data eng", "Data Engineer"), ("product design", "Product Designer"), ("CSM", None),
    ("customer success", "Customer Success Manager"), ("backend", "Senior Backend Engineer"),
])
def test_loosely_named_roles_resolve_against_open_jobs(jobs, role, title):
    resolution = resolve_role(jobs, role, None)
    assert (resolution.job.title if resolution.job else None) == title


def test_an_unknown_role_offers_the_open_roles(jobs):
    resolution = resolve_role(jobs, "astronaut", "what does the astronaut job pay")
    assert resolution.job is None and resolution.unknown_role == "astronaut"
    reply = which_role("ask_salary", resolution)
    assert "couldn't find an open role called \"astronaut\"" in reply.text
    assert reply.buttons[0].payload.startswith('/ask_salary{"role": ')


def test_an_ambiguous_role_asks_which(jobs):
    resolution = resolve_role(jobs, "engineer", None)
    assert resolution.job is None
    assert {job.title for job in resolution.choices} >= {"Data Engineer", "Machine Learning Engineer"}


def test_a_title_in_the_message_is_enough(jobs):
    assert resolve_role(jobs, None, "how much does the data engineer job pay?").job.title == "Data Engineer"


def test_this_role_means_the_verified_candidates_job(jobs):
    mine = [titled(jobs, "Product Designer")]
    assert resolve_role(jobs, None, "what's the salary for this role?", mine).job.title == "Product Designer"
    several = [titled(jobs, "Data Engineer"), titled(jobs, "Senior Backend Engineer")]
    assert [j.title for j in resolve_role(jobs, None, "salary?", several).choices] == [
        "Data Engineer", "Senior Backend Engineer"]


def test_without_a_role_everyone_is_asked_which(jobs):
    resolution = resolve_role(jobs, None, "what's the pay?")
    reply = which_role("ask_salary", resolution)
    assert reply.text == "Which role would you like to know the pay range for?" and len(reply.buttons) == 5


def test_salary_location_remote_and_details_come_from_job_data(jobs):
    ml = titled(jobs, "Machine Learning Engineer")
    assert answer_about_role("ask_salary", ml).text == (
        "The Machine Learning Engineer role pays $150,000 to $190,000 a year in base salary, depending on experience.")
    assert "hybrid, based in Boston, MA" in answer_about_role("ask_remote", ml).text
    assert "fully remote" in answer_about_role("ask_location", titled(jobs, "Senior Backend Engineer")).text
    assert "on-site in New York, NY" in answer_about_role("ask_remote", titled(jobs, "Product Designer")).text
    details = answer_about_role("ask_role_details", ml).text
    assert details.startswith("Machine Learning Engineer on the AI Platform team: Build and deploy")


def test_interview_process_lists_the_jobs_own_stages(jobs):
    text = answer_about_role("ask_interview_process", titled(jobs, "Product Designer")).text
    assert "The Product Designer hiring process has 6 steps:" in text
    assert "3) Portfolio Review" in text and "4) Design Exercise (5 to 10 days)" in text and "6) Offer\n" in text


def test_an_edited_job_answers_differently_at_once(ats, tmp_path):
    from bot.ats.seed import read_seed_file
    from tests.conftest import DEMO_SEED

    text = DEMO_SEED.read_text().replace("salary: {min: 150000, max: 190000", "salary: {min: 160000, max: 200000")
    edited = tmp_path / "edited-seed.yml"
    edited.write_text(text)
    ats.load_seed(read_seed_file(edited))
    ml = next(job for job in ats.list_jobs() if job.id == "j1")
    assert "$160,000 to $200,000" in answer_about_role("ask_salary", ml).text


def test_a_job_without_pay_says_so(jobs):
    from dataclasses import replace

    assert "doesn't list a pay range" in answer_about_role("ask_salary", replace(jobs[0], salary=None)).text


@pytest.mark.parametrize("intent", ["ask_salary", "ask_location", "ask_remote", "ask_role_details",
                                    "ask_interview_process"])
def test_role_answers_stay_in_the_sms_alphabet(jobs, intent):
    for job in jobs:
        assert is_gsm7(answer_about_role(intent, job).text)


def test_this_role_tagged_as_a_role_still_means_the_candidates_job(jobs):
    mine = [titled(jobs, "Product Designer")]
    assert resolve_role(jobs, "this", "is this role remote?", mine).job.title == "Product Designer"
