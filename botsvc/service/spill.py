"""A poll cycle's fetched items, kept in a temporary file until judged.

A cycle judges every fetched feed's items together, oldest first across feeds, so it holds
all of them until the last feed is in: at thousands of feeds, tens of thousands of items
(their text, and every item's fields and objects, most of the cycle's memory). The cycle
hands each parsed feed to :meth:`ItemSpill.keep`, which writes its items whole to an
unnamed temporary file, one record each, and keeps in memory only what ordering needs
(each item's event time and place in the file, in arrays). The judging reads the items
back a chunk at a time, in order of publication (:meth:`ItemSpill.order`,
:meth:`ItemSpill.read`), and never holds all of them.
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from botsvc.ingest.normalise import identity_keys
from botsvc.ingest.parse import ParsedFeed
from botsvc.judge.relevance import TopicMatch
from botsvc.models import FeedItem
from botsvc.service.prejudge import NO_MATCH, Matches
from botsvc.store import seenkeys

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
UNDATED = -(2**63)
"""The event time of an item with none (judged as of the cycle's time)."""
READ_GAP = 1024
"""Records of a chunk this close together in the file are read in one call ..."""
READ_SPAN = 1 << 18
"""... of at most about this many bytes."""

_NOT_JUDGED, _NO_MATCH, _MATCHED = 0, 1, 2
_MARSHALLED_TAG, _PICKLED_TAG = b"m", b"p"
_PICKLED = _PICKLED_TAG[0]

Waiting = tuple[FeedItem, list[str], Matches]
"""An item read back whole, with its identity keys and its topic matches (None: not judged yet)."""


@dataclass(frozen=True)
class KeptFeed:
    """A parsed feed whose items wait in the spill: what the cycle needs of it besides its items."""

    number: int
    """Its place among the spill's feeds (they are numbered in the order kept)."""
    size: int
    """How many items it has."""
    title: str
    warning: str | None = None
    reader: str = "feedparser"


def _micros(value: datetime) -> int:
    """Microseconds since the epoch: orders as the datetimes do (a naive one is taken as UTC, as it is)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - EPOCH) // MICROSECOND


def _stored_time(value: datetime | None) -> int | bytes | None:
    if value is None:
        return None
    if value.tzinfo is timezone.utc:  # what the parser gives: an exact integer
        return (value - EPOCH) // MICROSECOND
    return pickle.dumps(value)  # any other zone comes back as it was


def _read_time(value: int | bytes) -> datetime:
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    return pickle.loads(value)  # noqa: S301  (written by this process, to its own unnamed file)


def _record(item: FeedItem, keys: list[str], text: bool, matched: Sequence[TopicMatch] | None) -> bytes:
    """One item whole (its text only if ``text``), its identity keys and the topics it matched, marshalled.

    The matches are pickled into the record too: kept in memory, the few objects of each
    feed's that outlived its parse pinned the allocator's pages of everything else it freed.
    """
    fields = (
        item.feed,
        item.guid,
        item.link,
        item.title,
        item.summary if text else "",
        _stored_time(item.published),
        item.source,
        item.language,
        item.body if text else "",
        item.byline,
        _stored_time(item.estimated_published),
        keys,
        None if matched is None else pickle.dumps(matched, protocol=pickle.HIGHEST_PROTOCOL),
    )
    try:
        return _MARSHALLED_TAG + marshal.dumps(fields)
    except ValueError:  # a field of a type marshal does not take (a str subclass): pickled whole
        return _PICKLED_TAG + pickle.dumps((item if text else replace(item, summary="", body=""), keys, matched))


def _item(record: memoryview) -> tuple[FeedItem, list[str], Sequence[TopicMatch] | None]:
    if record[0] == _PICKLED:
        return pickle.loads(record[1:])  # noqa: S301  (written by this process, to its own unnamed file)
    feed, guid, link, title, summary, published, source, language, body, byline, estimated, keys, matched = (
        marshal.loads(record[1:])
    )
    item = FeedItem(
        feed,
        guid,
        link,
        title,
        summary,
        published if published is None else _read_time(published),
        source,
        language,
        body,
        byline,
        estimated if estimated is None else _read_time(estimated),
    )
    return item, keys, matched if matched is None else pickle.loads(matched)  # noqa: S301  (written here)


@dataclass(frozen=True)
class PackedFeed:
    """A parsed feed's items as the spill's records, made where the feed was parsed (:func:`pack`).

    A parse worker hands this over instead of the items: a few byte strings a feed, so the
    main process neither rebuilds every item from a pickle nor writes each one out again;
    :meth:`ItemSpill.keep_packed` appends the records to the file as they are.
    """

    data: bytes
    """The items' records, then the record of all their identity keys."""
    ends: bytes
    """Where each item's record ends in ``data`` (``array('q')``); the keys' record follows the last."""
    times: bytes
    """Each item's event time in microseconds since the epoch, or :data:`UNDATED` (``array('q')``)."""
    judged: bytes
    """Each item: not judged where parsed, no topic matched, or matched (``array('b')``)."""
    size: int
    title: str
    warning: str | None = None
    reader: str = "feedparser"


def pack(
    parsed: ParsedFeed,
    matches: list[Matches] | None = None,
    *,
    every_text: bool = True,
    keys: list[list[str]] | None = None,
) -> PackedFeed:
    """``parsed``'s items as the records :meth:`ItemSpill.keep` writes (its arguments are the same)."""
    found = matches if matches is not None else [None] * len(parsed.items)
    given = keys if keys is not None else [None] * len(parsed.items)
    chunks: list[bytes] = []
    ends, times, judged = array("q"), array("q"), array("b")
    end = 0
    every_key: list[str] = []
    for item, matched, item_keys in zip(parsed.items, found, given, strict=True):
        if item_keys is None:
            item_keys = identity_keys(item)
        every_key += item_keys
        found_some = matched is not None and bool(matched)
        record = _record(item, item_keys, every_text or matched is None or found_some, matched if found_some else None)
        chunks.append(record)
        end += len(record)
        ends.append(end)
        when = item.event_time
        times.append(UNDATED if when is None else _micros(when))
        judged.append(_NOT_JUDGED if matched is None else _MATCHED if matched else _NO_MATCH)
    # The feed's keys and their stored hashes (made here, in the worker, not in the judging).
    chunks.append(marshal.dumps((every_key, array("q", map(seenkeys.key_hash, every_key)).tobytes())))
    return PackedFeed(
        b"".join(chunks),
        ends.tobytes(),
        times.tobytes(),
        judged.tobytes(),
        len(parsed.items),
        parsed.title,
        parsed.warning,
        parsed.reader,
    )


class ItemSpill:
    """An unnamed temporary file of item records; in memory, each kept item's time and place in it.

    Items are numbered in the order kept (a feed's items together, in feed order), so an
    item's number orders it as (feed, index) does.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="botsvc-cycle-")
        self._size = 0
        self._unflushed = False
        self._offsets = array("q")
        """Per kept item: where its record starts in the file ..."""
        self._ends = array("q")
        """... and where it ends (a feed's keys follow its last item's record)."""
        self._times = array("q")
        """Per kept item: its event time in microseconds since the epoch, or :data:`UNDATED`."""
        self._feeds = array("l")
        """Per kept item: the number of its feed."""
        self._judged = array("b")
        """Per kept item: not judged where parsed, no topic matched, or matched (its matches are in its record)."""
        self._firsts = array("q")
        """Per kept feed: the number of its first item (its items follow it)."""
        self._keys = array("q")
        """Per kept feed: where the identity keys of all its items start and end in the file."""

    def keep(
        self,
        parsed: ParsedFeed,
        matches: list[Matches] | None = None,
        *,
        every_text: bool = True,
        keys: list[list[str]] | None = None,
    ) -> KeptFeed:
        """Write ``parsed``'s items out whole; what is left of it in memory.

        ``matches``: each item's topic matches, judged where it was parsed (None for an
        item judged later). Unless ``every_text``, the text of an item no topic matched is
        dropped, not kept: judging it needs its identity and title only. (With reported
        examples, the learned judgement reads every item's text: pass ``every_text``.)
        ``keys``: each item's identity keys if found where it was parsed.
        """
        return self.keep_packed(pack(parsed, matches, every_text=every_text, keys=keys))

    def keep_packed(self, packed: PackedFeed) -> KeptFeed:
        """Write the records :func:`pack` made (here or in a parse worker); what is left of the feed in memory."""
        number = len(self._firsts)
        self._firsts.append(len(self._offsets))
        base = self._size
        ends = array("q")
        ends.frombytes(packed.ends)
        if ends:  # each record starts where the one before it ends
            self._offsets.append(base)
            self._offsets.extend(base + end for end in ends[:-1])
        self._ends.extend(base + end for end in ends)
        self._times.frombytes(packed.times)
        self._judged.frombytes(packed.judged)
        self._feeds.extend([number] * packed.size)
        keys_start = base + (ends[-1] if ends else 0)
        self._keys.extend((keys_start, base + len(packed.data)))
        self._file.seek(self._size)
        self._file.write(packed.data)  # buffered: flushed once, when the judging first reads
        self._size += len(packed.data)
        self._unflushed = True
        return KeptFeed(number, packed.size, packed.title, packed.warning, packed.reader)

    def first(self, feed: int) -> int:
        """The number of feed ``feed``'s first item: an item's index in its feed is its number less this."""
        return self._firsts[feed]

    def feed_of(self, number: int) -> int:
        return self._feeds[number]

    def order(self, now: datetime, feeds: Sequence[KeptFeed]) -> array:
        """The numbers of ``feeds``' items, oldest first (an undated item as of ``now``); ties keep feed order.

        ``feeds`` in the order kept.
        """
        undated = _micros(now)
        times = self._times
        numbers: list[int] = []
        for feed in feeds:
            first = self._firsts[feed.number]
            numbers += range(first, first + feed.size)

        def when(number: int) -> int:
            at = times[number]
            return undated if at == UNDATED else at

        numbers.sort(key=when)  # stable: ties stay in the order kept
        return array("q", numbers)

    def _flush(self) -> None:
        if self._unflushed:
            self._file.flush()
            self._unflushed = False

    def read(self, numbers: Sequence[int]) -> list[Waiting]:
        """The items ``numbers`` whole, with their keys and matches, in the order given.

        Records close together in the file are read in one call.
        """
        self._flush()
        fd = self._file.fileno()
        offsets, ends = self._offsets, self._ends
        found: list[Waiting | None] = [None] * len(numbers)
        places = sorted(range(len(numbers)), key=lambda place: offsets[numbers[place]])
        run: list[int] = []
        run_start = run_end = 0

        def read_run() -> None:
            data = memoryview(os.pread(fd, run_end - run_start, run_start))
            for place in run:
                number = numbers[place]
                item, keys, matched = _item(data[offsets[number] - run_start : ends[number] - run_start])
                found[place] = (item, keys, self._matches(number, matched))

        for place in places:
            number = numbers[place]
            if run and (offsets[number] - run_end > READ_GAP or run_end - run_start > READ_SPAN):
                read_run()
                run = []
            if not run:
                run_start = offsets[number]
            run.append(place)
            run_end = ends[number]
        if run:
            read_run()
        return [entry for entry in found if entry is not None]

    def _matches(self, number: int, recorded: Sequence[TopicMatch] | None) -> Matches:
        """The topic matches item ``number`` got where it was parsed (``recorded`` with it), or None: not judged yet."""
        judged = self._judged[number]
        if judged == _NOT_JUDGED:
            return None
        return NO_MATCH if judged == _NO_MATCH else recorded

    def feed_keys(self, feed: KeptFeed) -> list[str]:
        """The identity keys of every item of ``feed``, in feed order."""
        return self.feed_window(feed)[0]

    def feed_window(self, feed: KeptFeed) -> tuple[list[str], array]:
        """The identity keys of every item of ``feed``, in feed order, and the hash each is stored under."""
        self._flush()
        start, end = self._keys[2 * feed.number : 2 * feed.number + 2]
        keys, packed = marshal.loads(os.pread(self._file.fileno(), end - start, start))
        hashes = array("q")
        hashes.frombytes(packed)
        return keys, hashes

    def close(self) -> None:
        self._file.close()
