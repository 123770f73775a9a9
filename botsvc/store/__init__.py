"""Store: judged items in, the archive out.

SQLite through sqlite-utils with numbered migrations; the per-item pipeline that records
each judgement and its event (pipeline, events), search, seeding, backups, retention,
and re-grouping or explaining what was stored.
"""

__all__ = [
    "backup",
    "events",
    "explain",
    "fileid",
    "migrate",
    "pipeline",
    "rebuild",
    "retention",
    "search",
    "searchtext",
    "seed",
    "seed_data",
    "store",
]
