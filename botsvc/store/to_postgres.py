"""Copy an existing SQLite database into an empty PostgreSQL one, and check the copy.

A bot that outgrows one process moves to PostgreSQL without losing its archive: every
table of the SQLite schema (articles, events and their fingerprints, seen keys,
subscriptions, the outbox with its in-flight parts, reports, tenants, ...) is copied
row for row with the same ids, so event numbers that chat messages show keep answering
and nothing already posted is posted again.

The source is read in one read transaction (a snapshot of one moment); the target is
written in one transaction with its tables locked, and the row counts of both sides are
compared before it commits: a failed or interrupted copy leaves the target as empty as
it was. SQLite's full-text index is not copied; PostgreSQL's search column is computed
from each copied article, as the store computes it on insert.
"""

from __future__ import annotations

import graphlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from botsvc.store import errors, searchtext
from botsvc.store.postgres import PostgresDatabase
from botsvc.store.store import Store, StoreError

BATCH = 2000
"""Rows read from SQLite at a time (memory stays flat whatever the archive's size)."""

Columns = dict[str, dict[str, dict[str, Any]]]
"""Each PostgreSQL table's columns: name → its data type and the sequence numbering it (or None)."""

COMPUTED: dict[str, tuple[str, tuple[str, ...], Callable[..., Any]]] = {
    "articles": ("search", ("title", "summary", "body"), searchtext.tsvector),
}
"""PostgreSQL-only columns written with each copied row: table → (column, the columns it is
made from, how). The search vector is computed as the store computes it on insert, so no
second pass rewrites every article."""

SKIPPED = ("_migrations",)
"""Bookkeeping each database keeps for itself (PostgreSQL's own migrations are applied already)."""

MADE_BY_MIGRATIONS = ("bot_state", "placement_clock")
"""Tables whose rows a migration writes (the outbox's key token, the placement clock): the copy
replaces the target's with the source's, so message keys and clock numbers go on unchanged."""

NUMBERED_ON_WRITE = ("articles",)
"""Tables whose triggers number each row as it is written (``placed_seq``): the copy keeps the
source's numbers, and the clock copied with them, so the triggers stay off while it runs."""


@dataclass
class CopyReport:
    """What was copied: rows per table (checked equal on both sides), in copy order."""

    version: int
    rows: dict[str, int] = field(default_factory=dict)
    nul_removed: int = 0
    """Text values that held NUL characters, which PostgreSQL text cannot store (removed)."""
    seconds: float = 0.0


def copy_to_postgres(source: Store, target: Store) -> CopyReport:
    """Copy every row of ``source`` (SQLite, migrated) into ``target`` (PostgreSQL, migrated, empty).

    Raises :class:`StoreError` with one line saying why when the databases are at different
    versions, the target already holds data, a table or column has no counterpart, or a row
    is refused; the target is then left as it was.
    """
    if source.dialect != "sqlite" or target.dialect != "postgres":
        raise StoreError("copy_to_postgres copies a SQLite database into a PostgreSQL one")
    started = time.monotonic()
    version = _same_version(source, target)
    report = CopyReport(version=version)
    conn = source.db.conn
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN")  # one snapshot: later writes to the file are not half-copied
    try:
        tables = _copy_order(source)
        target_columns = _postgres_columns(target)
        columns = {table: _shared_columns(source, table, target_columns) for table in tables}
        with target.atomic():
            target.db.execute(f"LOCK TABLE {', '.join(map(_quoted, tables))} IN EXCLUSIVE MODE")
            for table in MADE_BY_MIGRATIONS:
                if table in tables:
                    target.db.execute(f"DELETE FROM {_quoted(table)}")
            _refuse_unless_empty(target, tables)
            numbered = [table for table in NUMBERED_ON_WRITE if table in tables]
            for table in numbered:  # in this transaction only: a failed copy leaves them on
                target.db.execute(f"ALTER TABLE {_quoted(table)} DISABLE TRIGGER USER")
            for table in tables:
                report.rows[table] = _copy_table(source, target.db, table, columns[table], report)
            for table in numbered:
                target.db.execute(f"ALTER TABLE {_quoted(table)} ENABLE TRIGGER USER")
            _continue_ids(target.db, tables, target_columns)
            _verify(source, target, report)
    finally:
        if conn.in_transaction:
            conn.rollback()
    report.seconds = time.monotonic() - started
    return report


def _same_version(source: Store, target: Store) -> int:
    """The schema version both databases are at; refuses a pair at different versions."""
    mine = source.db.execute("SELECT max(version) FROM _migrations").fetchone()[0]
    theirs = target.db.execute("SELECT max(version) FROM _migrations").fetchone()[0]
    if mine != theirs:
        raise StoreError(
            f"the SQLite database is at schema version {mine} and PostgreSQL at {theirs}: "
            "copy with the botsvc version that last ran the bot"
        )
    return int(mine)


def _copy_order(source: Store) -> list[str]:
    """The SQLite tables to copy, each after the tables its foreign keys point to.

    The full-text index (a virtual table and its shadow tables) is left out: PostgreSQL
    indexes the articles itself.
    """
    rows = source.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    virtual = [name for name, text in rows if (text or "").upper().startswith("CREATE VIRTUAL TABLE")]
    tables = [
        name
        for name, _text in rows
        if not name.startswith("sqlite_")
        and name not in SKIPPED
        and name not in virtual
        and not any(name.startswith(f"{each}_") for each in virtual)
    ]
    graph: dict[str, set[str]] = {}
    for table in tables:
        parents = {row[2] for row in source.db.execute(f'PRAGMA foreign_key_list("{table}")')}
        graph[table] = {parent for parent in parents if parent != table and parent in tables}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise StoreError(f"tables refer to each other in a circle ({exc.args[1]}); cannot order the copy") from None


NEXTVAL = r"nextval\('([^']+)'"
"""The sequence a ``nextval('name'::regclass)`` column default draws from."""


def _postgres_columns(target: Store) -> Columns:
    """Each PostgreSQL table's columns: name → its data type and the sequence that numbers
    it, if any (an identity column's, or one a ``nextval(...)`` default draws from)."""
    found: Columns = {}
    for table, column, kind, sequence in target.db.execute(
        "SELECT table_name, column_name, data_type, coalesce(pg_get_serial_sequence(quote_ident(table_name), "
        "column_name), substring(column_default from CAST(? AS text))) FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        (NEXTVAL,),
    ):
        found.setdefault(table, {})[column] = {"type": kind, "sequence": sequence}
    return found


def _shared_columns(source: Store, table: str, target_columns: Columns) -> list[str]:
    """``table``'s SQLite columns, each of which PostgreSQL must have too."""
    mine = [row[1] for row in source.db.execute(f'PRAGMA table_info("{table}")')]
    theirs = target_columns.get(table)
    if theirs is None:
        raise StoreError(f"PostgreSQL has no table {table}; nothing was copied")
    missing = [column for column in mine if column not in theirs]
    if missing:
        raise StoreError(f"PostgreSQL's {table} has no column {', '.join(missing)}; nothing was copied")
    return mine


def _refuse_unless_empty(target: Store, tables: list[str]) -> None:
    """Copying into a database that already holds rows would mix two bots' histories."""
    held = []
    for table in tables:
        if target.db.execute(f"SELECT 1 FROM {_quoted(table)} LIMIT 1").fetchone():
            held.append(table)
    if held:
        raise StoreError(
            f"the PostgreSQL database already holds data ({', '.join(held[:4])}"
            f"{', ...' if len(held) > 4 else ''}); copy into an empty database"
        )


def _rows(source: Store, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """``table``'s rows in rowid order (so a row referring to an earlier one of its table follows it)."""
    names = ", ".join(f'"{column}"' for column in columns)
    order = " ORDER BY rowid" if not _without_rowid(source, table) else ""
    cursor = source.db.execute(f'SELECT {names} FROM "{table}"{order}')
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def _without_rowid(source: Store, table: str) -> bool:
    text = source.db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0] or ""
    return "WITHOUT ROWID" in text.upper()


def _self_references(source: Store, table: str) -> list[str]:
    """Columns of ``table`` whose foreign key points at ``table`` itself (e.g. a duplicate's original)."""
    return [row[3] for row in source.db.execute(f'PRAGMA foreign_key_list("{table}")') if row[2] == table]


def _copy_table(source: Store, db: PostgresDatabase, table: str, columns: list[str], report: CopyReport) -> int:
    """COPY ``table``'s rows into PostgreSQL; returns how many.

    Self-references are written after every row of the table is in, so their order of
    insertion does not matter.
    """
    later = _self_references(source, table)
    key = "id" if later and "id" in columns else None
    if later and key is None:
        raise StoreError(f"{table} refers to itself without an id column; cannot copy it")
    deferred_at = [columns.index(column) for column in later]
    deferred: list[tuple[Any, ...]] = []
    computed = COMPUTED.get(table)
    written, make, made_from = columns, None, []
    if computed is not None and computed[0] not in columns:
        written, make = [*columns, computed[0]], computed[2]
        made_from = [columns.index(column) for column in computed[1]]
    count = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, written))
    )
    try:
        with db.raw.cursor().copy(statement) as copy:
            for row in _rows(source, table, columns):
                values = list(row)
                for i, value in enumerate(values):
                    if isinstance(value, str) and "\x00" in value:
                        values[i] = value.replace("\x00", "")
                        report.nul_removed += 1
                if deferred_at:
                    if any(values[i] is not None for i in deferred_at):
                        deferred.append((*(values[i] for i in deferred_at), values[columns.index("id")]))
                    for i in deferred_at:
                        values[i] = None
                if make is not None:
                    values.append(make(*(values[i] for i in made_from)))
                copy.write_row(values)
                count += 1
        if deferred:
            assignments = ", ".join(f'"{column}" = ?' for column in later)
            db.executemany(f'UPDATE "{table}" SET {assignments} WHERE id = ?', deferred)
    except errors.DatabaseError as exc:  # PostgreSQL refused a row, or SQLite could not read one
        raise StoreError(f"copying {table} failed: {_first_line(exc)}; nothing was copied") from None
    return count


def _continue_ids(db: PostgresDatabase, tables: list[str], target_columns: Columns) -> None:
    """Start each numbered column's sequence after the highest number copied (new rows never
    take an old id, and a change counter keeps counting up from where SQLite's was)."""
    for table in tables:
        for column, about in target_columns[table].items():
            if about["sequence"] is None:
                continue
            db.execute(
                f"SELECT setval(CAST(? AS regclass), max({_quoted(column)})) FROM {_quoted(table)} "
                f"HAVING max({_quoted(column)}) IS NOT NULL",
                (about["sequence"],),
            )


def _verify(source: Store, target: Store, report: CopyReport) -> None:
    """Both sides hold the same number of rows in every table, and every article is searchable."""
    for table, copied in report.rows.items():
        theirs = target.db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]
        mine = source.db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]
        if not mine == copied == theirs:
            raise StoreError(f"{table}: {mine} rows in SQLite but {theirs} in PostgreSQL; nothing was copied")
    unindexed = target.db.execute("SELECT count(*) FROM articles WHERE search IS NULL").fetchone()[0]
    if unindexed:
        raise StoreError(f"{unindexed} copied article(s) have no search index; nothing was copied")


def _quoted(name: str) -> str:
    """``name`` as an SQL identifier both databases read the same way (``"user"`` is a keyword)."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
