"""Finding candidates by phone on an ATS API that cannot search by phone (Greenhouse, Lever).

The index pages through every record once and keeps, in memory, each of its numbers in E.164 with the ids of
the record and of the person it belongs to: numbers and ids, nothing else. When it is older than
`refresh_seconds`, one request for the records updated since the newest update seen (on the ATS's clock) brings
it up to date; every `rebuild_seconds` it is built again from every page, catching what did not move a record's
update time (a deletion, an edit the ATS does not count as one). The adapter re-reads every hit from the ATS
before answering, so the index only ever says whom to read.

What is vendor-specific comes from the adapter: how to page every record, how to page the records updated since
a watermark (with any overlap), and what a record's id, person, numbers and update time are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, NamedTuple, TypeVar

W = TypeVar("W")  # a watermark: a record's update time as the vendor gives it, ordered with < and >


class PhoneEntry(NamedTuple):
    """What the index keeps of one record. No person or no keys: the record leaves the index."""

    record_id: str
    person_id: str | None
    keys: Iterable[str]  # E.164 numbers; an adapter may add keys of its own that cannot be one (no "+")


class PhoneBook(Generic[W]):
    """One build of the index: key -> record ids, record id -> person id and keys. Thread-safe."""

    def __init__(self, entry_of: Callable[[dict], PhoneEntry | None], built_at: float) -> None:
        self.built_at = self.refreshed_at = built_at
        self.watermark: W | None = None  # the newest update seen
        self._entry_of = entry_of
        self._lock = threading.Lock()
        self._by_key: dict[str, set[str]] = {}
        self._entries: dict[str, tuple[str, tuple[str, ...]]] = {}

    def find(self, *keys: str) -> dict[str, str]:
        """Record id -> person id, for the records found by any of the keys."""
        with self._lock:
            found = set().union(*(self._by_key.get(key, ()) for key in keys))
            return {record_id: self._entries[record_id][0] for record_id in found}

    def put(self, record: dict) -> None:
        with self._lock:
            self._put(record)

    def update(self, records: Iterable[dict], *, gone: Iterable[str] = ()) -> None:
        """Records just read from the ATS, and the ids of records it no longer has, replace what the index knew."""
        with self._lock:
            for record_id in gone:
                self._remove(record_id)
            for record in records:
                self._put(record)

    def record_count(self) -> int:
        return len(self._entries)

    def key_count(self) -> int:
        return len(self._by_key)

    def _put(self, record: dict) -> None:
        entry = self._entry_of(record)
        if entry is None:
            return
        self._remove(entry.record_id)
        keys = tuple(dict.fromkeys(entry.keys))
        if entry.person_id is None or not keys:
            return
        self._entries[entry.record_id] = (entry.person_id, keys)
        for key in keys:
            self._by_key.setdefault(key, set()).add(entry.record_id)

    def _remove(self, record_id: str) -> None:
        _, keys = self._entries.pop(record_id, ("", ()))
        for key in keys:
            self._by_key[key].discard(record_id)
            if not self._by_key[key]:
                del self._by_key[key]


class PhoneIndex(Generic[W]):
    """The current PhoneBook, built or brought up to date when due; one thread at a time reads the ATS for it.

    With `wait_for_update`, a lookup that finds the index due waits for the thread updating it; without, only
    the very first lookup waits (there is no index yet) and later ones answer from the index there is.
    `every_record` and `updated_since` page the ATS; `entry_of` and `updated_at` read one record (`updated_at`
    None: no usable update time). `built_message` and `updated_message` are logged with the counts `records`,
    `keys` and `changed` (as %(records)d), so nothing personal can be.
    """

    def __init__(self, *, every_record: Callable[[], Iterable[dict]],
                 updated_since: Callable[[W | None], Iterable[dict]],
                 entry_of: Callable[[dict], PhoneEntry | None], updated_at: Callable[[dict], W | None],
                 refresh_seconds: float, rebuild_seconds: float, clock: Callable[[], float] = time.monotonic,
                 wait_for_update: bool = False, logger: logging.Logger, built_message: str,
                 updated_message: str) -> None:
        self._every_record = every_record
        self._updated_since = updated_since
        self._entry_of = entry_of
        self._updated_at = updated_at
        self.refresh_seconds = refresh_seconds
        self.rebuild_seconds = rebuild_seconds
        self.wait_for_update = wait_for_update
        self._clock = clock
        self._logger = logger
        self._built_message = built_message
        self._updated_message = updated_message
        self._book: PhoneBook[W] | None = None
        self._updating = threading.Lock()  # held by the one thread reading the ATS for the index

    def current(self) -> PhoneBook[W]:
        book = self._book
        if book is not None and not self._due(book, self._clock()):
            return book
        if not self._updating.acquire(blocking=self.wait_for_update or book is None):
            assert book is not None
            return book
        try:
            book, now = self._book, self._clock()
            if book is None or now - book.built_at >= self.rebuild_seconds:
                book = self._book = self._build(now)  # swapped in only once every page is read
            elif now - book.refreshed_at >= self.refresh_seconds:
                self._refresh(book, now)
            return book
        finally:
            self._updating.release()

    def _due(self, book: PhoneBook[W], now: float) -> bool:
        return now - book.built_at >= self.rebuild_seconds or now - book.refreshed_at >= self.refresh_seconds

    def _build(self, now: float) -> PhoneBook[W]:
        book: PhoneBook[W] = PhoneBook(self._entry_of, built_at=now)
        for record in self._every_record():
            book.put(record)
            book.watermark = self._newer(book.watermark, record)
        self._logger.info(self._built_message, _counts(book, changed=0))
        return book

    def _refresh(self, book: PhoneBook[W], now: float) -> None:
        newest = book.watermark
        changed = 0
        for record in self._updated_since(book.watermark):
            book.put(record)
            newest = self._newer(newest, record)
            changed += 1
        # Only now: pages need not come in update order, so a failure half-way must not skip any record.
        book.watermark = newest
        book.refreshed_at = now
        self._logger.debug(self._updated_message, _counts(book, changed=changed))

    def _newer(self, newest: W | None, record: dict) -> W | None:
        updated = self._updated_at(record)
        return updated if updated is not None and (newest is None or updated > newest) else newest


def _counts(book: PhoneBook, *, changed: int) -> dict[str, int]:
    return {"records": book.record_count(), "keys": book.key_count(), "changed": changed}
