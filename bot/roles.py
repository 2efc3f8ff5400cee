"""Matching loosely named roles ("the ML job", "data eng") to job titles, with rapidfuzz."""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process, utils

# Words candidates add around a role name that say nothing about which role it is.
_FILLER = re.compile(
    r"\b(the|my|a|an|for|of|job|role|position|application|app|opening|posting|one|status|thing|this|that|"
    r"same|current|these|those)\b",
    re.IGNORECASE,
)
_ABBREVIATIONS = {
    "ml": "machine learning", "ai": "artificial intelligence", "eng": "engineer", "engr": "engineer",
    "dev": "developer", "swe": "software engineer", "sr": "senior", "jr": "junior", "pm": "product manager",
    "ux": "user experience", "mgr": "manager", "ds": "data scientist", "cs": "customer success",
    "qa": "quality assurance", "fe": "frontend", "be": "backend", "sre": "site reliability engineer",
}


def _expand(text: str) -> str:
    words = re.findall(r"[\w+#]+", _FILLER.sub(" ", text).casefold())
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


def names_a_role(text: str | None) -> bool:
    """Whether the text has any words that could name a role ("this one" has none)."""
    return bool(text and _expand(text))


def best_role_match(query: str, titles: list[str], threshold: float = 70.0) -> int | None:
    """Index of the title the query names, or None when nothing matches well or two titles tie."""
    tied = plausible_roles(query, titles, threshold=threshold, margin=0.0)
    if not tied or len({_expand(titles[index]) for index in tied}) > 1:
        return None
    return tied[0]


def role_mentioned_in(message: str, titles: list[str], coverage: float = 0.66) -> int | None:
    """Index of the title a whole message names ("any news on my ML engineer app?"), or None.

    Entity extraction can catch part of a title ("engineer" of "ML engineer"); this instead asks
    which title has most of its words in the message, each word matched fuzzily (typos), and
    needs one clear winner.
    """
    message_words = _expand(message).split()
    if not message_words or not titles:
        return None
    scores = []
    for title in titles:
        title_words = _expand(title).split()
        found = sum(1 for word in title_words
                    if process.extractOne(word, message_words, scorer=fuzz.ratio, score_cutoff=85) is not None)
        scores.append(found / len(title_words) if title_words else 0.0)
    best = max(scores)
    if best < coverage or scores.count(best) > 1:
        return None
    return scores.index(best)


def plausible_roles(query: str, titles: list[str], threshold: float = 70.0, margin: float = 5.0) -> list[int]:
    """Indices of every title the query could mean: the best match and any within `margin` of it."""
    wanted = _expand(query)
    if not wanted or not titles:
        return []
    choices = [_expand(title) for title in titles]
    scored = process.extract(wanted, choices, scorer=fuzz.WRatio, processor=utils.default_process,
                             limit=len(choices), score_cutoff=threshold)
    if not scored:
        return []
    top = scored[0][1]
    return [index for _, score, index in scored if score >= top - margin]
