"""Message templates: which parts of an alert a subscription shows, and its own header.

Everything a user types is checked here before it is stored, whether it comes from chat
(``/news template``), the command line (``botsvc subscribe --template``) or
``[[subscriptions]] template = {…}`` in ``feeds.toml``. The header is untrusted text: it
is normalised (NFKC, one line, no control or format characters) and kept short here, and
every adapter still escapes it exactly like feed text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable

from botsvc.models import DEFAULT_FIELDS, TEMPLATE_FIELDS, Template

MAX_HEADER = 80
SUMMARY_BUDGET = 280
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」"}
_SENTENCE = re.compile(r"^.+?(?:[.!?](?=\s)|[。！？])")


class TemplateError(ValueError):
    """A bad header or field list; the message says which and why."""


def parse_header(text: str) -> str:
    """A header as stored: NFKC, one surrounding pair of quotes removed, single spaces.

    Refuses an empty or over-long header and any control, format (zero-width, bidi) or
    line-breaking character, so a header cannot hide text, reorder it or add lines.
    """
    value = unicodedata.normalize("NFKC", text).strip()
    if len(value) >= 2 and _QUOTES.get(value[0]) == value[-1]:
        value = value[1:-1].strip()
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")), None)
    if bad is not None:
        raise TemplateError(f"header: control or invisible character U+{ord(bad):04X} is not allowed")
    value = " ".join(value.split())
    if not value:
        raise TemplateError('header: give some text, e.g. header "Morning brief"')
    if len(value) > MAX_HEADER:
        raise TemplateError(f"header: {len(value)} characters; at most {MAX_HEADER}")
    return value


def parse_fields(names: Iterable[str]) -> frozenset[str]:
    """The set of fields to show, from names separated by commas or spaces; at least one."""
    words = [w.lower() for name in names for w in re.split(r"[,\s]+", name) if w]
    unknown = [w for w in words if w not in TEMPLATE_FIELDS]
    if unknown:
        raise TemplateError(f"unknown field {unknown[0][:20]!r} (fields: {', '.join(TEMPLATE_FIELDS)})")
    if not words:
        raise TemplateError(f"give the fields to show, e.g. {','.join(TEMPLATE_FIELDS)}")
    return frozenset(words)


def describe(template: Template) -> str:
    """One line for replies and listings: ``fields outlet,time,link,sources; header 'Morning brief'``."""
    fields = ",".join(f for f in TEMPLATE_FIELDS if template.shows(f)) or "none"
    header = f"; header {template.header!r}" if template.header else ""
    return f"fields {fields}{header}"


def template_to_json(template: Template) -> str | None:
    """The template as a subscription stores it; None for the default."""
    if template.is_default:
        return None
    data: dict = {"fields": [f for f in TEMPLATE_FIELDS if template.shows(f)]}
    if template.header:
        data["header"] = template.header
    return json.dumps(data, ensure_ascii=False)


def template_from_data(data: dict) -> Template:
    """A stored or queued template; missing keys keep their defaults (older rows have none)."""
    fields = data.get("fields")
    return Template(
        fields=frozenset(f for f in fields if f in TEMPLATE_FIELDS) if fields is not None else DEFAULT_FIELDS,
        header=data.get("header") or None,
    )


def template_from_json(text: str | None) -> Template:
    return template_from_data(json.loads(text)) if text else Template()


def template_from_table(table: dict) -> Template:
    """``[[subscriptions]] template = {header = "…", fields = [...]}``; raises TemplateError naming the key."""
    unknown = sorted(set(table) - {"header", "fields"})
    if unknown:
        raise TemplateError(f"{unknown[0]}: unknown key (expected header, fields)")
    header = None
    if "header" in table:
        if not isinstance(table["header"], str):
            raise TemplateError("header: expected a string")
        header = parse_header(table["header"])
    fields = DEFAULT_FIELDS
    if "fields" in table:
        raw = table["fields"]
        if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
            raise TemplateError(f'fields: expected a list such as ["{TEMPLATE_FIELDS[0]}", "link"]')
        try:
            fields = parse_fields(raw)
        except TemplateError as exc:
            raise TemplateError(f"fields: {exc}") from None
    return Template(fields=fields, header=header)


def template_from_options(options: Iterable[str]) -> Template:
    """``--template fields=outlet,link --template "header=Morning brief"`` (command line)."""
    table: dict = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("header", "fields"):
            raise TemplateError(f"--template {option[:40]!r}: expected header=TEXT or fields=LIST")
        table[key] = value if key == "header" else [value]
    return template_from_table(table)


def lead_sentence(summary: str, limit: int = SUMMARY_BUDGET) -> str:
    """The first sentence of a summary on one line, at most ``limit`` characters (cut with "…")."""
    text = " ".join(summary.split())
    found = _SENTENCE.match(text)
    sentence = found[0] if found else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
