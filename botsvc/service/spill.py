"""The summaries and bodies of a poll cycle's items, kept in a temporary file until judged.

A cycle judges every fetched feed's items together, oldest first across feeds, so it holds
all of them until the last feed is in. Their text is most of that memory (a summary alone
is often larger than the rest of an item), and it grew with the number of feeds. The
cycle keeps each item without its text (:meth:`TextSpill.keep`), gives the judging the
whole item back a chunk at a time (:meth:`TextSpill.whole`), and its report holds the
items without text (no report reads it).
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import replace

from botsvc.ingest.parse import ParsedFeed
from botsvc.judge.relevance import TopicMatch
from botsvc.models import FeedItem
from botsvc.service.prejudge import Matches


class TextSpill:
    """An unnamed temporary file of UTF-8 text; each kept item's place in it, by identity."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="botsvc-cycle-")
        self._size = 0
        self._unflushed = False
        self._bounds = array("q")
        """Per kept item: where its summary starts, where its body starts, where its body ends."""
        self._where: dict[int, int] = {}
        """id() of a kept item -> its first entry in ``_bounds``."""
        self._matches: dict[int, Sequence[TopicMatch]] = {}
        """id() of a kept item -> its topic matches, when judged where it was parsed."""
        self._kept: list[ParsedFeed] = []
        """The kept feeds, so the ids above stay theirs until the spill is closed."""

    def keep(self, parsed: ParsedFeed, matches: list[Matches] | None = None, *, every_text: bool = True) -> ParsedFeed:
        """``parsed`` with its items' summaries and bodies written out (the items without them).

        ``matches``: each item's topic matches, judged where it was parsed (None for an
        item judged later). Unless ``every_text``, the text of an item no topic matched is
        dropped, not kept: judging it needs its identity and title only. (With reported
        examples, the learned judgement reads every item's text: pass ``every_text``.)
        """
        items: list[FeedItem] = []
        chunks: list[bytes] = []
        found = matches if matches is not None else [None] * len(parsed.items)
        for item, matched in zip(parsed.items, found, strict=True):
            if not item.summary and not item.body:
                slim = item
            elif matched is not None and not matched and not every_text:
                slim = replace(item, summary="", body="")
            else:
                summary, body = item.summary.encode(), item.body.encode()
                start = self._size + sum(map(len, chunks))
                chunks += (summary, body)
                slim = replace(item, summary="", body="")
                self._where[id(slim)] = len(self._bounds)
                self._bounds.extend((start, start + len(summary), start + len(summary) + len(body)))
            if matched is not None:
                self._matches[id(slim)] = matched
            items.append(slim)
        data = b"".join(chunks)
        if data:
            self._file.seek(self._size)
            self._file.write(data)  # buffered: flushed once, when the judging first reads
            self._size += len(data)
            self._unflushed = True
        kept = replace(parsed, items=items)
        self._kept.append(kept)
        return kept

    def whole(self, item: FeedItem) -> FeedItem:
        """``item`` with the text :meth:`keep` took from it (an item it did not keep, as it is)."""
        entry = self._where.get(id(item))
        if entry is None:
            return item
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        start, middle, end = self._bounds[entry : entry + 3]
        data = os.pread(self._file.fileno(), end - start, start)
        cut = middle - start
        return replace(item, summary=data[:cut].decode(), body=data[cut:].decode())

    def matches(self, item: FeedItem) -> Matches:
        """The topic matches ``item`` got where it was parsed, or None: not judged yet."""
        return self._matches.get(id(item))

    def close(self) -> None:
        self._file.close()
        self._where.clear()
        self._matches.clear()
        self._kept.clear()
