"""What recruiters see in Slack (Block Kit), and what candidates are told about a handoff.

Pure functions of a `Handoff`: the card is rendered again from the stored row for every update,
so an update that arrives late can never show a stale state.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bot.handoff import REASONS, Handoff

CLAIM = "handoff_claim"
HAND_BACK = "handoff_hand_back"
CLOSE = "handoff_close"
CHANNEL_WORDS = {"twilio": "SMS", "sms": "SMS", "web": "web chat", "socketio": "web chat", "slack": "Slack",
                 "rest": "API"}
_STATUS_LINE = {
    "waiting": ":hourglass_flowing_sand: Waiting for a recruiter",
    "claimed": ":speech_balloon: With <@{claimed_by}>",
    "returned": ":robot_face: Handed back to the assistant by <@{ended_by}>",
    "closed": ":white_check_mark: Closed by {ended_by_who}",
}


def channel_words(channel: str) -> str:
    return CHANNEL_WORDS.get(channel, channel)


def mrkdwn_escape(text: str) -> str:
    """Text a candidate or the ATS wrote, safe in any Slack message: no mentions (<!channel>, <@U...>), no links.

    Slack's mrkdwn treats &, < and > as control characters; everything we post that carries such text goes
    through here (cards, their re-posts and notification text, thread relays, stale-application nudges)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_line(handoff: Handoff) -> str:
    ended_by_who = "the candidate" if handoff.ended_by == "candidate" else f"<@{handoff.ended_by}>"
    return _STATUS_LINE[handoff.status].format(claimed_by=handoff.claimed_by, ended_by=handoff.ended_by,
                                               ended_by_who=ended_by_who)


def card_text(handoff: Handoff, escalated: bool = False) -> str:
    """The notification text (and what screen readers and old clients show)."""
    who = mrkdwn_escape(handoff.card.candidate_name) if handoff.card.candidate_name else "An unverified sender"
    prefix = "No one has claimed this yet: " if escalated else ""
    return f"{prefix}{who} needs a recruiter ({channel_words(handoff.channel)}): {REASONS[handoff.reason]}"


def card_blocks(handoff: Handoff, escalated: bool = False) -> list[dict[str, Any]]:
    card = handoff.card
    fields = [
        f"*Candidate*\n{mrkdwn_escape(card.candidate_name) if card.candidate_name else 'Not verified'}",
        f"*Channel*\n{channel_words(handoff.channel)}",
    ]
    if card.role:
        fields.append(f"*Role*\n{mrkdwn_escape(card.role)}")
    if card.stage:
        fields.append(f"*Stage*\n{mrkdwn_escape(card.stage)}")
    fields.append(f"*Why*\n{REASONS[handoff.reason]}")
    fields.append(f"*Since*\n<!date^{int(handoff.created_at.timestamp())}^{{date_short_pretty}} {{time}}|"
                  f"{handoff.created_at:%Y-%m-%d %H:%M} UTC>")
    title = "Candidate needs a recruiter"
    if escalated:
        title = "Unclaimed: candidate needs a recruiter"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in fields]},
    ]
    if card.transcript:
        lines = "\n".join(f"*{'Candidate' if who == 'candidate' else 'Assistant'}:* {mrkdwn_escape(text)}"
                          for who, text in card.transcript)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Last messages*\n{lines}"[:2900]}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status_line(handoff)}]})
    buttons = []
    if handoff.status == "waiting":
        buttons.append({"type": "button", "action_id": CLAIM, "style": "primary", "value": str(handoff.id),
                        "text": {"type": "plain_text", "text": "Claim"}})
    if handoff.is_live:
        buttons += [
            {"type": "button", "action_id": HAND_BACK, "value": str(handoff.id),
             "text": {"type": "plain_text", "text": "Hand back to bot"}},
            {"type": "button", "action_id": CLOSE, "value": str(handoff.id), "style": "danger",
             "text": {"type": "plain_text", "text": "Close"}},
        ]
        blocks.append({"type": "actions", "block_id": "handoff", "elements": buttons})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"Reply in this thread to answer the candidate; replies are sent by "
                       f"{channel_words(handoff.channel)}."}]})
    return blocks


def candidate_thread_text(text: str) -> str:
    """A candidate's message as the card's thread shows it."""
    return f"*Candidate:* {mrkdwn_escape(text)}"


def refusal_text(held_by: str | None, replied: bool) -> str:
    """What a recruiter alone sees when they act on a conversation someone else has."""
    who = f"<@{held_by}>" if held_by else "another recruiter"
    return (f"This conversation is claimed by {who}, so your message was not sent to the candidate." if replied
            else f"This conversation is claimed by {who}. Only they or the candidate's own recruiter can hand it "
                 "back or close it.")


_MENTION = re.compile(r"<[@#!]([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")


def plain_text(slack_text: str) -> str:
    """A recruiter's Slack message as a candidate should read it: links and mentions as words."""
    def link(match: re.Match) -> str:
        target, label = match.group(1).removeprefix("mailto:"), match.group(2)
        return target if not label or label in (target, match.group(1)) else f"{label} ({target})"

    text = _LINK.sub(link, slack_text)
    text = _MENTION.sub(lambda m: m.group(2) or "", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()


# --- what the candidate is told ------------------------------------------------------------------

def first_name(real_name: str | None) -> str | None:
    return real_name.split()[0] if real_name and real_name.strip() else None


def candidate_notice(kind: str, recruiter_name: str | None, body: str | None, careers_email: str | None) -> str:
    who = first_name(recruiter_name)
    if kind == "reply":
        return f"{who}: {body}" if who else f"Recruiter: {body}"
    if kind == "claimed":
        return (f"{who} from the recruiting team has joined the conversation." if who else
                "A recruiter has joined the conversation.") + " Your messages now go to them."
    if kind == "returned":
        return (f"{who or 'The recruiter'} has handed you back to me, the assistant. Ask me anything, or say "
                "\"talk to a recruiter\" to reach a person again.")
    if kind == "closed":
        return (f"{who or 'The recruiter'} has closed this conversation. I'm the assistant again: ask me "
                "anything, or say \"talk to a recruiter\" to reach a person again.")
    if kind == "escalated":
        email = f" If you prefer, email {careers_email} and we'll answer there." if careers_email else ""
        return ("Sorry for the wait: no recruiter has picked this up yet, so I've passed it to the wider "
                f"recruiting team.{email} Your messages here still go to them.")
    raise ValueError(f"unknown handoff notice {kind!r}")


def handoff_age(handoff: Handoff, now: dt.datetime) -> str:
    minutes = int((now - handoff.created_at).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def opened_notice(reason: str, expectation: str, already_open: bool) -> str:
    """What the candidate hears when a recruiter is asked to join the conversation."""
    if already_open:
        return f"A recruiter has already been asked to join this conversation. {expectation}"
    lead = {
        "sensitive_topic": "That's something a recruiter should talk through with you personally, so I won't try "
                           "to answer it myself. ",
        "not_understood": "Sorry, I still couldn't understand, so I'm bringing in a person. ",
        "unanswered_question": "",
        "no_interview_slots": "",
        "uncommunicated_rejection": "",
    }.get(reason, "")
    return (f"{lead}I've asked a recruiter to join this conversation. {expectation} Until then your messages go "
            "to them; say \"that's all\" whenever you'd like me, the assistant, back.")
