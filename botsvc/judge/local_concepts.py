"""A deployment's own concepts: :file:`concepts.local.toml` beside ``feeds.toml``.

Next month's news brings names the shipped lexicon (:file:`botsvc/data/concepts.toml`)
does not know: a new minister, a new dispute. An operator adds them here, by hand or with
``botsvc concepts add``, without waiting for a release. The file has the shipped file's
form; a concept named here replaces the shipped concept of that name, any other is added.
Both are checked by the same rules (:meth:`botsvc.judge.concepts.Lexicon.from_tables`).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from botsvc.judge.concepts import LANGUAGES, LEXICON_PATH, Lexicon
from botsvc.judge.terms import term_key

__all__ = ["LOCAL_FILE", "add_concept", "deployment_lexicon", "local_path", "read_tables"]

LOCAL_FILE = "concepts.local.toml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = (
    "# This deployment's concepts: they extend botsvc/data/concepts.toml, and a concept named\n"
    "# here replaces the shipped one of that name. `botsvc concepts add` rewrites this file;\n"
    "# `botsvc check-config` checks it. Latin terms match as whole words, Korean and Japanese\n"
    "# terms as substrings (never a single character).\n"
)


def local_path(config_path: str | os.PathLike) -> Path:
    """Where the local concepts of the configuration at ``config_path`` live: beside it."""
    return Path(config_path).resolve().parent / LOCAL_FILE


def read_tables(path: Path) -> dict:
    """The file's tables ({} when there is no file); ValueError in one line for unreadable or bad TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None


def _combined(local: dict, path: Path) -> Lexicon:
    Lexicon.from_tables(local, path)  # the local file's own mistakes name the local file
    return Lexicon.from_tables({**tomllib.loads(LEXICON_PATH.read_text(encoding="utf-8")), **local}, path)


def deployment_lexicon(config_path: str | os.PathLike) -> tuple[Lexicon, Path, int] | None:
    """The shipped lexicon extended by the local file, that file and its concept count; None without one."""
    path = local_path(config_path)
    if not path.exists():
        return None
    local = read_tables(path)
    return _combined(local, path), path, len(local)


def add_concept(path: Path, name: str, spellings: dict[str, list[str]]) -> tuple[dict[str, list[str]], str]:
    """Write concept ``name`` with ``spellings`` (language -> terms) to the local file at ``path``.

    A concept already known (locally or shipped) keeps its spellings and gains the new
    ones, so adding a spelling never loses the others. Returns the concept's entry and
    where it came from: "new", "shipped" or "local". Nothing is written when the result
    would not load (ValueError in one line).
    """
    if not _NAME.match(name):
        raise ValueError(f"concept name {name!r}: use lower-case letters, digits and hyphens (e.g. lee-jae-myung)")
    for terms in spellings.values():
        for term in terms:
            if not term.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in term):
                raise ValueError(f"spelling {term!r}: empty or holds control characters")
    local = read_tables(path)
    shipped = tomllib.loads(LEXICON_PATH.read_text(encoding="utf-8"))
    origin = "local" if name in local else "shipped" if name in shipped else "new"
    before = local.get(name) or shipped.get(name) or {}
    entry: dict = {k: v for k, v in before.items() if k not in LANGUAGES}
    for lang in LANGUAGES:
        terms = list(before.get(lang, []))
        keys = {term_key(t) for t in terms}
        for term in spellings.get(lang, []):
            term = term.strip()
            if term_key(term) not in keys:
                terms.append(term)
                keys.add(term_key(term))
        if terms:
            entry[lang] = terms
    updated = {**local, name: entry}
    _combined(updated, path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render(updated), encoding="utf-8")
    os.replace(temporary, path)
    return {lang: entry.get(lang, []) for lang in LANGUAGES}, origin


def render(tables: dict) -> str:
    """TOML text of ``tables`` (concept -> {en, ko, ja, span_days}), with the explanatory header."""
    parts = [_HEADER]
    for name, body in tables.items():
        lines = [f"[{name}]" if _BARE_KEY.match(name) else f"[{json.dumps(name, ensure_ascii=False)}]"]
        for key, value in body.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(json.dumps(t, ensure_ascii=False) for t in value)}]")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
