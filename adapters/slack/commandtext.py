"""Slash-command text as the user typed it.

Slack sends command text in its message format: ``&``, ``<`` and ``>`` typed by the user
arrive as ``&amp;``, ``&lt;`` and ``&gt;``, and links arrive wrapped as ``<https://…>`` or
``<https://…|label>``. The core takes plain text, so a feed URL with ``&`` in its query
must not be stored as ``&amp;``.
"""

from __future__ import annotations

import re

_LINK = re.compile(r"<((?:https?|mailto):[^|<>\s]*)(?:\|[^<>]*)?>", re.IGNORECASE)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))  # &amp; last: "&amp;lt;" is a literal "&lt;"


def plain_command_text(text: str) -> str:
    """``text`` with Slack's link wrapping removed (the address is kept) and its entities decoded.

    Other ``<…>`` forms (user, channel and special mentions) are left as Slack sent them.
    """
    text = _LINK.sub(lambda found: found[1], text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text
