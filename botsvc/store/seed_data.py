"""The seeded article set: raw report files plus a manifest, read without a database.

The raw ``.txt`` files under ``botsvc/data/seed/`` are kept exactly as received.
``manifest.json`` next to them gives, per file, the real headline, outlet,
publication time, URL, lead paragraph and two verbatim markers (``body_start``
and ``body_end``) that delimit the article body inside the raw text. This module
cuts the body out of the raw file and removes the remaining site boilerplate
with the generic line rules below; the files themselves are never modified.

Body extraction
    The body runs from the (unique) occurrence of ``body_start`` up to and
    including the first occurrence of ``body_end`` after it. That slice is split
    into lines; blank lines separate paragraphs. Inside each line runs of
    whitespace (including no-break spaces) collapse to one space. Then a line is
    dropped when it is

    * a widget label such as ``Social Sharing`` or ``Advertisement``
      (:data:`WIDGET_LINES`, compared case-insensitively);
    * a video teaser ``Watch video 01:46``, together with the line right after
      it (the video's title);
    * a picture credit: it starts with ``(Image credit:`` or ends with a
      parenthesised ``(Photographer/Agency)`` credit;
    * a bare URL;
    * a short fragment -- at most :data:`SHORT_FRAGMENT_WORDS` words and no
      sentence-final punctuation -- which in these pages is image alt text or a
      section subheading.

    The kept lines are joined with a blank line between paragraphs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SEED_EVENT_TITLE = "South Korea ends GSOMIA intelligence-sharing pact with Japan (Aug 2019)"

MANIFEST_NAME = "manifest.json"
KEY_PREFIX = "seed:"

#: Whole lines that are page furniture rather than article text (lower-cased).
WIDGET_LINES = frozenset(
    {
        "social sharing",
        "share",
        "share this article",
        "advertisement",
        "read more",
        "related",
        "subscribe & save",
        "email this story to a friend!",
    }
)

#: A line of at most this many words without sentence-final punctuation is a caption or subheading.
SHORT_FRAGMENT_WORDS = 6

_REQUIRED_FIELDS = ("file", "title", "outlet", "published", "url", "lead", "body_start", "body_end")
_WATCH_VIDEO = re.compile(r"^watch video\b(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$", re.IGNORECASE)
_PICTURE_CREDIT = re.compile(r"^\(image credit:|\([^()]*/[^()]*\)$", re.IGNORECASE)
_BARE_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_SENTENCE_END = tuple(".!?:;\"'\u201d\u2019)")


@dataclass(frozen=True)
class SeedArticle:
    key: str  # stable id, "seed:" + file stem, e.g. "seed:000_13db4fe19147060b"
    file: str
    title: str
    outlet: str
    published: datetime  # tz-aware UTC
    url: str | None
    lead: str
    body: str  # article text between the manifest markers, boilerplate dropped, whitespace normalised


def default_seed_dir() -> Path:
    """The package's own ``data/seed`` directory."""
    return Path(__file__).resolve().parent.parent / "data" / "seed"


def normalise_line(line: str) -> str:
    """Collapse every run of whitespace (no-break spaces included) to one space and trim."""
    return " ".join(line.split())


def is_boilerplate_line(line: str) -> bool:
    """True for a normalised, non-empty line that the generic rules drop (video titles are handled separately)."""
    lowered = line.lower()
    if lowered in WIDGET_LINES:
        return True
    if _WATCH_VIDEO.match(line) or _PICTURE_CREDIT.search(line) or _BARE_URL.match(line):
        return True
    return len(line.split()) <= SHORT_FRAGMENT_WORDS and not line.endswith(_SENTENCE_END)


def clean_body(raw: str) -> str:
    """Apply the documented boilerplate rules to a raw body slice; paragraphs are separated by a blank line."""
    paragraphs: list[str] = []
    skip_video_title = False
    for raw_line in raw.splitlines():
        line = normalise_line(raw_line)
        if not line:
            continue
        if skip_video_title:
            skip_video_title = False
            continue
        if _WATCH_VIDEO.match(line):
            skip_video_title = True
            continue
        if is_boilerplate_line(line):
            continue
        paragraphs.append(line)
    return "\n\n".join(paragraphs)


def extract_body(text: str, body_start: str, body_end: str, *, file: str = "?") -> str:
    """The raw slice of ``text`` from ``body_start`` through ``body_end``.

    ValueError if a marker is missing or ambiguous.
    """
    count = text.count(body_start)
    if count == 0:
        raise ValueError(f"seed manifest: body_start marker {body_start!r} not found in {file}")
    if count > 1:
        raise ValueError(f"seed manifest: body_start marker {body_start!r} occurs {count} times in {file}")
    start = text.index(body_start)
    end = text.find(body_end, start + len(body_start))
    if end < 0:
        where = "not found" if body_end not in text else "only found before body_start"
        raise ValueError(f"seed manifest: body_end marker {body_end!r} {where} in {file}")
    return text[start : end + len(body_end)]


def parse_published(value: Any, *, file: str = "?") -> datetime:
    """An ISO 8601 string with an explicit offset, returned as aware UTC."""
    if not isinstance(value, str):
        raise ValueError(f"seed manifest: 'published' for {file} must be an ISO 8601 string, got {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"seed manifest: 'published' for {file} is not ISO 8601: {value!r}") from exc
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"seed manifest: 'published' for {file} has no UTC offset: {value!r}")
    return when.astimezone(timezone.utc)


def read_manifest(directory: Path) -> list[dict[str, Any]]:
    """The manifest entries, checked for shape (list of objects with the required fields, unique files)."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ValueError(f"seed manifest not found: {path}")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"seed manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"seed manifest {path} must be a non-empty JSON list of objects")
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"seed manifest entry #{index} is not an object")
        missing = [name for name in _REQUIRED_FIELDS if name not in entry]
        if missing:
            raise ValueError(f"seed manifest entry #{index} ({entry.get('file', '?')}) lacks {', '.join(missing)}")
        for name in _REQUIRED_FIELDS:
            value = entry[name]
            if name == "url" and value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"seed manifest entry #{index}: {name!r} must be a non-empty string")
        name = entry["file"]
        if Path(name).name != name:
            raise ValueError(f"seed manifest entry #{index}: 'file' must be a bare file name, got {name!r}")
        if name in seen:
            raise ValueError(f"seed manifest lists {name} more than once")
        seen.add(name)
    return entries


def load_seed_articles(directory: Path | None = None) -> list[SeedArticle]:
    """Read the manifest and raw files in ``directory`` (default: the package data) sorted by publication time.

    Raises ValueError when the manifest is inconsistent with the files: a listed
    file is missing, the title or lead is not verbatim in its file, or a body
    marker is missing or ambiguous.
    """
    directory = Path(directory) if directory is not None else default_seed_dir()
    articles: list[SeedArticle] = []
    for entry in read_manifest(directory):
        name = entry["file"]
        path = directory / name
        if not path.is_file():
            raise ValueError(f"seed manifest lists {name} but {path} does not exist")
        text = path.read_text(encoding="utf-8")
        for field in ("title", "lead"):
            if entry[field] not in text:
                raise ValueError(f"seed manifest: {field} for {name} does not appear verbatim in the file")
        body = clean_body(extract_body(text, entry["body_start"], entry["body_end"], file=name))
        if not body:
            raise ValueError(f"seed manifest: body of {name} is empty after boilerplate removal")
        articles.append(
            SeedArticle(
                key=KEY_PREFIX + Path(name).stem,
                file=name,
                title=entry["title"],
                outlet=entry["outlet"],
                published=parse_published(entry["published"], file=name),
                url=entry["url"],
                lead=entry["lead"],
                body=body,
            )
        )
    articles.sort(key=lambda article: (article.published, article.file))
    return articles
