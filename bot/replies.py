"""What the assistant says, as channel-neutral messages: text plus optional quick-reply buttons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)


ASK_FOR_RECRUITER = Button("Talk to a recruiter", "/request_human")
