"""Secrets kept out of what botsvc logs, stores and prints about failed sends.

Chat tokens live in the environment and webhook URLs are credentials in themselves; an
exception's text may carry either (an SDK's error quoting the URL it was given). Every
failure reason goes through :func:`redact` before it is logged or stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

SECRET_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN")
MAX_REASON = 300

_PATTERNS = [
    (re.compile(r"(/webhooks/[0-9]+/)[^\s'\"/?#]+"), r"\1…"),  # Discord webhook token
    (re.compile(r"(hooks\.slack\.com/)[^\s'\"]+"), r"\1…"),  # Slack incoming webhook path
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox…"),  # Slack tokens
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "xapp-…"),
    (re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"), "…"),  # Discord bot token
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets, the chat tokens in the environment, or anything
    shaped like a token or webhook path; one line of at most MAX_REASON characters."""
    known = [s for s in (*secrets, *(os.environ.get(v, "").strip() for v in SECRET_VARIABLES)) if len(s) >= 6]
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, "…")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
