"""What a missed-story report (``/news missed``) reads and writes of the archive itself.

:mod:`botsvc.chat.reports` judges the reported story; these say whether articles were
stored meanwhile and record who reported the one it stored.
"""

from __future__ import annotations

import json

from botsvc.store.store import Store


def newest_article_id(store: Store) -> int:
    """The id of the newest stored article (0 for an empty archive)."""
    return int(store.query("SELECT coalesce(max(id), 0) AS n FROM articles")[0]["n"])


def record_reporter(store: Store, article_id: int, reporter: str) -> None:
    """Record that the article was stored because ``reporter`` reported it (its relevance judgement)."""
    judgement = json.dumps({"judgement": "report", "reporter": reporter}, ensure_ascii=False, separators=(",", ":"))
    store.db.execute("UPDATE articles SET relevance = ? WHERE id = ?", (judgement, article_id))
