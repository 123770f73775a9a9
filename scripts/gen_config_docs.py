"""Refresh the generated tables of docs/configuration.md from the code's own settings.

The ``[fetch]``, ``[dedup]``, ``[alerts]`` and ``[retention]`` tables of ``feeds.toml`` are
frozen dataclasses that ``botsvc/config.py`` reads key by key; their keys, defaults and
the docstrings under each field are the reference. This script rewrites the text between
``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->`` in the page; the prose
around it is written by hand. ``tests/test_docs.py`` fails when a block is out of date,
and when any key ``config.py`` accepts or any environment variable the code reads is
missing from the page.

    python scripts/gen_config_docs.py            # rewrite the blocks
    python scripts/gen_config_docs.py --check    # exit 1 if they are out of date
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from dataclasses import MISSING, fields
from pathlib import Path

from botsvc.config import DedupSettings, RetentionSettings
from botsvc.deliver.alert_limits import AlertLimits
from botsvc.ingest.fetch import FetchPolicy

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"

TABLES: dict[str, type] = {
    "fetch": FetchPolicy,
    "dedup": DedupSettings,
    "alerts": AlertLimits,
    "retention": RetentionSettings,
}
DURATIONS = {"interval", "backfill_max_age"}
"""Keys ``config.py`` reads as durations (seconds, or "90s", "15m", "1h", "1d")."""
EXTRA = {
    # Fields without a docstring in the code, or whose docstring speaks in code terms
    # (seconds, None): one line each in feeds.toml's terms, kept here.
    "fetch.concurrency": "Most fetches in flight at once.",
    "fetch.max_bytes": "Cap on the decoded body in bytes (10 MiB); reading stops as soon as it is passed.",
    "alerts.backfill_max_age": (
        'On a feed\'s first poll, older (or undated) items are archived, not alerted; "off": alert them all.'
    ),
    "retention.interval": "How often `botsvc run` prunes (`poll --once` prunes after every poll).",
    "fetch.connect_timeout": "Seconds to wait for a connection to the feed's server.",
    "fetch.read_timeout": "Seconds to wait for the next bytes of an answer.",
    "fetch.max_redirects": "Redirects followed (by hand, each checked) before the fetch fails.",
    "fetch.user_agent": "The User-Agent header sent with every fetch.",
}
_BLOCK = re.compile(r"(<!-- BEGIN generated: (\w+) -->\n)(.*?)(<!-- END generated: \2 -->)", re.S)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (PEP 257 attribute docstrings)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return '"off"'
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f'"{seconds // size}{unit}"'
    return str(seconds)


def _toml(value: object, key: str) -> str:
    if key in DURATIONS:
        return _duration(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def table(name: str) -> str:
    """The Markdown table of ``[name]``: every key, its default and what it does."""
    cls = TABLES[name]
    docs = field_docs(cls)
    rows = ["| key | default | what it does |", "|---|---|---|"]
    for item in fields(cls):
        default = item.default if item.default is not MISSING else item.default_factory()  # type: ignore[misc]
        meaning = EXTRA.get(f"{name}.{item.name}") or docs.get(item.name, "")
        if not meaning:
            raise SystemExit(f"{cls.__name__}.{item.name} has no docstring: add one, or a line to EXTRA")
        meaning = meaning.replace("``", "`").replace("|", "\\|")
        rows.append(f"| `{item.name}` | `{_toml(default, item.name)}` | {meaning} |")
    return "\n".join(rows) + "\n"


def refresh(text: str) -> str:
    """``text`` with every generated block rewritten."""

    def replace(match: re.Match[str]) -> str:
        return match.group(1) + table(match.group(2)) + match.group(4)

    return _BLOCK.sub(replace, text)


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    fresh = refresh(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(fresh, encoding="utf-8")
    print(f"refreshed {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
