"""A generated ATS for the load run: thousands of candidates, each with a channel, a script and an identity.

Candidates on SMS have distinct valid US numbers (50 area codes x 100 fictional 555-01xx lines = 5,000);
candidates on the web widget are known by email only. Candidates who book an interview are at a stage
with a self-booked 30-minute video call, spread over ten interviewers who are free every day, so bookings
compete for calendars without running out of times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import yaml

from bot.settings import PROJECT_ROOT

AREA_CODES = ("617", "212", "312", "415", "206", "512", "303", "404", "202", "646", "201", "203", "205", "207",
              "208", "213", "214", "215", "216", "217", "305", "313", "314", "315", "317", "405", "406", "407",
              "408", "410", "412", "414", "503", "504", "505", "602", "612", "614", "619", "702", "713", "718",
              "801", "804", "816", "901", "904", "919", "971", "972")  # valid US area codes
MAX_PHONES = len(AREA_CODES) * 100
STAGES = ("Application Review", "Recruiter Screen", "Technical Interview", "Onsite Loop")
SCRIPTS = ("status", "faq", "booking", "handoff")
INTERVIEWERS = 10
EVERY_DAY = {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    channel: str  # "sms" or "web"
    script: str  # one of SCRIPTS
    phone: str | None
    email: str
    stage: str
    job_title: str


def phone_number(n: int) -> str:
    if n >= MAX_PHONES:
        raise ValueError(f"at most {MAX_PHONES} SMS candidates (distinct valid numbers)")
    return f"+1{AREA_CODES[n // 100]}555{100 + n % 100:04d}"


def draw_scripts(count: int, mix: dict[str, float], rng: random.Random) -> list[str]:
    """Exactly the mix's shares (rounded), shuffled, so small runs still have every kind."""
    total = sum(mix.values())
    counts = {name: int(round(count * share / total)) for name, share in mix.items()}
    biggest = max(counts, key=counts.get)
    counts[biggest] += count - sum(counts.values())
    scripts = [name for name, n in counts.items() for _ in range(n)]
    rng.shuffle(scripts)
    return scripts


def generate(count: int, web_share: float, mix: dict[str, float], rng: random.Random) -> tuple[dict, list[Candidate]]:
    demo = yaml.safe_load((PROJECT_ROOT / "data" / "demo" / "ats_seed.yml").read_text())
    demo_jobs = {job["id"]: job for job in demo["jobs"]}
    interviewers = [{"id": f"i-load{k}", "name": f"Load Interviewer{k}", "title": "Engineer",
                     "timezone": "America/New_York", "hours": EVERY_DAY} for k in range(INTERVIEWERS)]
    booking_jobs = [{"id": f"jl{k}", "title": f"Load Engineer {k}", "location": "Remote (US)", "remote": "remote",
                     "department": "Engineering",
                     "stages": ["Application Review", {"name": "Technical Interview", "interview": {
                         "format": "video", "duration_minutes": 30, "interviewers": [f"i-load{k}"],
                         "video_link": f"https://meet.acme.example/load{k}"}}, "Offer"]}
                    for k in range(INTERVIEWERS)]
    scripts = draw_scripts(count, mix, rng)
    web_count = int(round(count * web_share))
    channels = ["web"] * web_count + ["sms"] * (count - web_count)
    rng.shuffle(channels)
    seeded, candidates, sms_n = [], [], 0
    for n, (script, channel) in enumerate(zip(scripts, channels, strict=True)):
        phone = None
        if channel == "sms":
            phone, sms_n = phone_number(sms_n), sms_n + 1
        name, email = f"Load Candidate{n}", f"load{n}@example.com"
        if script == "booking":
            job_id, stage = f"jl{n % INTERVIEWERS}", "Technical Interview"
            job_title = booking_jobs[n % INTERVIEWERS]["title"]
        else:
            job_id, stage = "j1", STAGES[n % len(STAGES)]
            job_title = demo_jobs["j1"]["title"]
        seeded.append({
            "id": f"l{n}", "name": name, "email": email, "phone": phone,
            # Half of those who book have a zone on file; for the rest it is inferred and confirmed.
            **({"timezone": "America/Chicago"} if n % 2 else {}),
            "applications": [{"job": job_id, "stage": stage, "stage_changed": "2026-11-15", "recruiter": "r1",
                              "status": "active"}],
        })
        candidates.append(Candidate(f"l{n}", name, channel, script, phone, email, stage, job_title))
    seed = {**demo, "interviewers": [*demo.get("interviewers", []), *interviewers],
            "jobs": [*demo["jobs"], *booking_jobs], "candidates": seeded}
    return seed, candidates
