"""Which back-end a database location names, and what both need of a URL, without loading psycopg.

A ``postgresql://`` URL puts the store on PostgreSQL (:mod:`botsvc.store.postgres`, the
only module that imports psycopg and its pool); anything else is a SQLite file. A process
on SQLite imports this module alone, so it never pays for the PostgreSQL driver.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(location: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL; a path means SQLite."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


@lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """``sql`` with SQLite placeholders as psycopg's: ``?`` → ``%s``, ``:name`` → ``%(name)s``.

    Quoted strings, quoted identifiers and comments are left as they are; a literal ``%``
    elsewhere is doubled (psycopg reads it as a placeholder), and ``::`` casts stay.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = sql.find(c, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == c:  # '' or "" inside
                end = sql.find(c, end + 2)
            end = n if end == -1 else end + 1
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        elif c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and (i == 0 or sql[i - 1] != ":"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def quote_literal(text: str) -> str:
    """``text`` as an SQL string literal (for the few statements that take no parameters)."""
    return "'" + text.replace("'", "''") + "'"
