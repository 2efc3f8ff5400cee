"""The careers knowledge base: answers recruiters write in a YAML file, found by retrieval.

The file is re-read whenever it changes on disk (checked on each question: one stat call), so
recruiters edit answers without retraining. A file with a mistake is refused with a message that
names the place, and the previous good version keeps answering.

Retrieval scores a question against each entry's question, its alternate phrasings and its answer
(TF-IDF over words and character n-grams, cosine similarity). Above the threshold the best entry
answers; below it the assistant says it does not know. It never composes an answer of its own.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

logger = logging.getLogger(__name__)

TOPICS = ("benefits", "culture", "process", "role", "other")
DEFAULT_THRESHOLD = 0.40
ANSWER_WEIGHT = 0.7  # an answer's wording is weaker evidence than a question's
# Weights and threshold chosen on bench/data/knowledge_heldout.yml (see README): characters carry
# typos and word forms ("interviews", "intrview"), words carry exact terms.
WORD_WEIGHT, CHAR_WEIGHT = 0.3, 0.7
# Words that say nothing about which entry is meant, in a company's own knowledge base.
NOISE_WORDS = frozenset(ENGLISH_STOP_WORDS) | {
    "acme", "robotics", "company", "do", "does", "whats", "what's", "r", "u", "ur", "im", "i'm", "pls",
}


def content_words(text: str) -> str:
    return " ".join(word for word in re.findall(r"[a-z0-9']+", text.lower()) if word not in NOISE_WORDS)


class KnowledgeError(ValueError):
    """The knowledge file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    topic: str
    also_asked: tuple[str, ...] = ()
    stage: str | None = None


@dataclass(frozen=True)
class Match:
    entry: FaqEntry
    score: float


def _text_field(mapping: dict, key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(f"{where}.{key}: required text")
    return " ".join(value.split())


def parse_knowledge(text: str, source: str = "knowledge") -> tuple[FaqEntry, ...]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("faqs"), list):
        raise KnowledgeError(f"{source}: expected a mapping with a list under 'faqs'")
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["faqs"]):
        where = f"faqs[{index}]"
        if not isinstance(raw, dict):
            raise KnowledgeError(f"{where}: expected a mapping")
        entry_id = _text_field(raw, "id", where)
        if entry_id in seen:
            raise KnowledgeError(f"{where}.id: {entry_id!r} is used twice")
        seen.add(entry_id)
        topic = str(raw.get("topic", "other")).strip().lower()
        if topic not in TOPICS:
            raise KnowledgeError(f"{where}.topic: must be one of {', '.join(TOPICS)}, got {topic!r}")
        also_asked = raw.get("also_asked") or []
        if not isinstance(also_asked, list) or not all(isinstance(p, str) and p.strip() for p in also_asked):
            raise KnowledgeError(f"{where}.also_asked: expected a list of phrasings")
        stage = raw.get("stage")
        entries.append(FaqEntry(
            id=entry_id,
            question=_text_field(raw, "question", where),
            answer=_text_field(raw, "answer", where),
            topic=topic,
            also_asked=tuple(" ".join(p.split()) for p in also_asked),
            stage=str(stage).strip() if stage else None,
        ))
    if not entries:
        raise KnowledgeError(f"{source}: no entries under 'faqs'")
    return tuple(entries)


class KnowledgeIndex:
    """Retrieval over one version of the knowledge base."""

    def __init__(self, entries: tuple[FaqEntry, ...]) -> None:
        self.entries = entries
        documents: list[str] = []
        self._owner: list[int] = []
        weights: list[float] = []
        for position, entry in enumerate(entries):
            for phrasing in (entry.question, *entry.also_asked):
                documents.append(phrasing)
                self._owner.append(position)
                weights.append(1.0)
            documents.append(entry.answer)
            self._owner.append(position)
            weights.append(ANSWER_WEIGHT)
        self._weights = np.array(weights)
        self._words = TfidfVectorizer(ngram_range=(1, 2), preprocessor=content_words, sublinear_tf=True)
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), preprocessor=content_words,
                                      sublinear_tf=True)
        self._word_matrix = self._words.fit_transform(documents)
        self._char_matrix = self._chars.fit_transform(documents)

    def search(self, question: str, limit: int = 3) -> list[Match]:
        text = " ".join(question.split())
        if not text:
            return []
        # TF-IDF rows are L2-normalised, so a dot product is the cosine similarity.
        word_scores = (self._word_matrix @ self._words.transform([text]).T).toarray().ravel()
        char_scores = (self._char_matrix @ self._chars.transform([text]).T).toarray().ravel()
        scores = (WORD_WEIGHT * word_scores + CHAR_WEIGHT * char_scores) * self._weights
        best: dict[int, float] = {}
        for document, score in enumerate(scores):
            owner = self._owner[document]
            best[owner] = max(best.get(owner, 0.0), float(score))
        ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [Match(self.entries[position], round(score, 4)) for position, score in ranked]


@dataclass(frozen=True)
class KnowledgeAnswer:
    entry: FaqEntry | None
    score: float

    @property
    def found(self) -> bool:
        return self.entry is not None


class KnowledgeBase:
    """A knowledge file on disk, reloaded when it changes, never replaced by a broken version."""

    def __init__(self, path: str | Path, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.path = Path(path)
        self.threshold = threshold
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._signature: tuple[int, int] | None = None
        self._index = self._load()  # a broken file at start-up is an error the operator must see

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def _load(self) -> KnowledgeIndex:
        signature = self._stat()
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise KnowledgeError(f"{self.path}: cannot be read: {error}") from error
        index = KnowledgeIndex(parse_knowledge(text, source=str(self.path)))
        self._signature = signature
        return index

    def index(self) -> KnowledgeIndex:
        """The current version, re-read first if the file changed since the last look."""
        signature = self._stat()
        if signature == self._signature:
            return self._index
        with self._lock:
            if signature != self._signature:
                try:
                    self._index = self._load()
                    self.last_error = None
                    logger.info("knowledge base reloaded from %s: %d entries", self.path, len(self._index.entries))
                except KnowledgeError as error:
                    self._signature = signature  # report a broken version once, not on every question
                    self.last_error = str(error)
                    logger.error("knowledge base not reloaded, previous version stays in use: %s", error)
        return self._index

    def answer(self, question: str) -> KnowledgeAnswer:
        matches = self.index().search(question, limit=1)
        if not matches or matches[0].score < self.threshold:
            return KnowledgeAnswer(None, matches[0].score if matches else 0.0)
        return KnowledgeAnswer(matches[0].entry, matches[0].score)

    def describe(self) -> dict[str, Any]:
        entries = self.index().entries
        return {"path": str(self.path), "entries": len(entries), "last_error": self.last_error,
                "topics": {topic: sum(1 for e in entries if e.topic == topic) for topic in TOPICS}}
