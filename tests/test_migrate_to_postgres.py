"""``botsvc migrate-to-postgres``: a bot's SQLite archive moves to PostgreSQL whole, or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli
from botsvc.service.lock import InstanceLock
from botsvc.store import postgres, searchtext, to_postgres
from botsvc.store.backup import backup
from botsvc.store.store import open_store, utcnow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"

# Rows for the tables a demo poll leaves empty, so that every table is copied with something in it.
EXTRA_ROWS = [
    "INSERT INTO chat_tenants (platform, workspace, adopted_at) VALUES ('slack', 'T1', '2026-01-01T00:00:00+00:00')",
    "INSERT INTO feed_tenants (feed, tenant, added_at) VALUES ('extra', 'slack:T1', '2026-01-01T00:00:00+00:00')",
    "INSERT INTO platform_problems (platform, problem, since, last_seen) VALUES ('discord', 'token refused', "
    "'2026-01-01T00:00:00+00:00', '2026-01-02T00:00:00+00:00')",
    "INSERT INTO subscription_filters (subscription_id, word, kind) "
    "SELECT min(id), 'export', 'include' FROM subscriptions",
    "INSERT INTO event_mutes (subscription_id, event_id, reason, muted_by, muted_at) "
    "SELECT min(id), 2, 'not relevant', 'U1', '2026-01-01T00:00:00+00:00' FROM subscriptions",
    'INSERT INTO relevance_feedback (event_id, platform, workspace, channel, "user", reported_at) '
    "VALUES (2, 'slack', 'T1', 'C1', 'U1', '2026-01-01T00:00:00+00:00')",
    'INSERT INTO labelled_examples (article_id, label, platform, workspace, channel, "user", manager, reported_at) '
    "SELECT max(id), 'not relevant', 'slack', 'T1', 'C1', 'U1', 1, '2026-01-01T00:00:00+00:00' FROM articles",
    "INSERT INTO event_merges (absorbed, survivor, article_id, absorbed_title, merged_at) "
    "VALUES (99, 2, NULL, 'an absorbed event', '2026-01-01T00:00:00+00:00')",
    "INSERT INTO republished_copies (feed, guid, url, title, published, original_id, similarity, first_seen) "
    "SELECT feed, guid || '-again', url, title, published, id, 0.93, first_seen FROM articles WHERE id = 3",
    # A report pointing at a later one (the copy must not depend on the order rows were written in),
    # and a title with a NUL character (PostgreSQL text cannot hold one).
    "UPDATE articles SET duplicate_of = (SELECT max(id) FROM articles) WHERE id = (SELECT min(id) FROM articles)",
    "UPDATE articles SET title = title || char(0) || ' (corrected)' WHERE id = 2",
    "INSERT INTO request_replays (signature, expires) VALUES ('v0=abc', 4102444800)",
]

IGNORED = {"_migrations"}


def sqlite_tables(path: Path) -> list[str]:
    store = open_store(path, create=False)
    try:
        rows = store.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        store.close()
    virtual = [name for name, text in rows if text.upper().startswith("CREATE VIRTUAL")]
    return sorted(
        name
        for name, _ in rows
        if name not in IGNORED and not name.startswith("sqlite_") and not any(name.startswith(v) for v in virtual)
    )


def contents(location: str, table: str) -> list[tuple]:
    """Every row of ``table`` (the columns SQLite has), NUL characters removed, in a stable order."""
    store = open_store(location, create=False)
    try:
        if store.dialect == "sqlite":
            columns = [row[1] for row in store.db.execute(f'PRAGMA table_info("{table}")')]
        else:
            columns = [
                name
                for (name,) in store.db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = ? AND column_name <> 'search' ORDER BY ordinal_position",
                    (table,),
                )
            ]
        names = ", ".join(f'"{column}"' for column in columns)
        rows = store.db.execute(f'SELECT {names} FROM "{table}"').fetchall()
    finally:
        store.close()
    clean = [tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in row) for row in rows]
    return sorted(clean, key=repr)


@pytest.fixture(scope="module")
def archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bot's SQLite database after a demo poll, with a row in every table (made once per module)."""
    path = tmp_path_factory.mktemp("archive") / "bot.db"
    unset = {"BOTSVC_DATABASE_URL": None, "BOTSVC_DB": None}
    made = CliRunner(env=unset).invoke(cli, ["demo", "--db", str(path), "--config", str(EXAMPLES)])
    assert made.exit_code == 0, made.output
    store = open_store(path, create=False)
    try:
        with store.atomic():
            store.ensure_feed("extra", "https://example.org/extra.xml")
            for statement in EXTRA_ROWS:
                store.db.execute(statement)
    finally:
        store.close()
    return path


@pytest.fixture
def archive(archive_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of :func:`archive_template` of the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOTSVC_DATABASE_URL", raising=False)
    monkeypatch.delenv("BOTSVC_DB", raising=False)
    path = tmp_path / "bot.db"
    backup(archive_template, path)
    yield path
    postgres.close_pools()


def move(archive: Path, url: str) -> object:
    return CliRunner().invoke(cli, ["migrate-to-postgres", "--from", str(archive), "--db", url])


def test_every_row_of_every_table_arrives_with_its_id(archive, postgres_url):
    tables = sqlite_tables(archive)
    assert all(contents(str(archive), table) for table in tables), "every table holds a row to copy"
    result = move(archive, postgres_url)
    assert result.exit_code == 0, result.output
    assert "the same count on both sides" in result.output
    assert "1 text value(s) held NUL characters" in result.output
    for table in tables:
        assert contents(postgres_url, table) == contents(str(archive), table), table
    pg = open_store(postgres_url)
    try:  # each article's search vector is the one the store writes with a new article
        for row in pg.query("SELECT id, title, summary, body FROM articles"):
            vector = searchtext.tsvector(row["title"], row["summary"], row["body"])
            same = pg.db.execute("SELECT search = CAST(? AS tsvector) FROM articles WHERE id = ?", (vector, row["id"]))
            assert same.fetchone()[0], row["id"]
    finally:
        pg.close()


def test_the_bot_goes_on_where_it_was_on_postgres(archive, postgres_url):
    assert move(archive, postgres_url).exit_code == 0
    for query in ("gsomia", "수출", "輸出"):  # /news search answers the same
        found = [
            CliRunner().invoke(cli, ["search", query, "--json", "--db", where, "--config", str(EXAMPLES)])
            for where in (str(archive), postgres_url)
        ]
        assert found[0].exit_code == found[1].exit_code == 0, found[0].output
        assert found[1].output == found[0].output, query
    # Polling the same feeds again decides the same on both: nothing is new, nothing is alerted twice.
    decisions = {}
    for where in (str(archive), postgres_url):
        polled = CliRunner().invoke(cli, ["poll", "--once", "--json", "--db", where, "--config", str(EXAMPLES)])
        assert polled.exit_code == 0, polled.output
        lines = [json.loads(line) for line in polled.output.splitlines() if line.startswith("{")]
        decisions[where] = sorted((o["feed"], o["guid"], o["decision"], o["event_id"], o["alerted"]) for o in lines)
    assert decisions[str(archive)] and decisions[str(archive)] == decisions[postgres_url]
    assert not any(alerted for *_, alerted in decisions[postgres_url])
    assert contents(postgres_url, "outbox") == contents(str(archive), "outbox")
    lite, pg = open_store(archive, create=False), open_store(postgres_url)
    try:
        assert pg.counts() == lite.counts()
        highest = lite.db.execute("SELECT max(id) FROM events").fetchone()[0]
        with pg.atomic():  # new rows continue after the copied ids
            new = pg.create_event(title="new", topic=None, published=None, outlet="x", when=utcnow())
        assert new == highest + 1
    finally:
        lite.close()
        pg.close()


def test_a_refused_row_leaves_postgres_empty_and_a_second_try_succeeds(archive, postgres_url):
    lite = open_store(archive, create=False)
    try:
        with lite.atomic():  # SQLite keeps text in an INTEGER column; PostgreSQL will not
            lite.db.execute("UPDATE feeds SET items_seen = 'lots' WHERE name = 'extra'")
    finally:
        lite.close()
    result = move(archive, postgres_url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "copying feeds failed" in result.output and "nothing was copied" in result.output
    # Nothing but the rows PostgreSQL's own migrations write (replaced by a copy that succeeds).
    left = {table for table in sqlite_tables(archive) if contents(postgres_url, table)}
    assert left <= set(to_postgres.MADE_BY_MIGRATIONS), left
    lite = open_store(archive, create=False)
    try:
        with lite.atomic():
            lite.db.execute("UPDATE feeds SET items_seen = 0 WHERE name = 'extra'")
    finally:
        lite.close()
    again = move(archive, postgres_url)
    assert again.exit_code == 0, again.output


def test_a_database_that_holds_data_is_left_alone(archive, postgres_url):
    assert move(archive, postgres_url).exit_code == 0
    before = contents(postgres_url, "articles")
    result = move(archive, postgres_url)
    assert result.exit_code == 1
    assert "already holds data" in result.output and "copy into an empty database" in result.output
    assert contents(postgres_url, "articles") == before


def test_refused_while_the_bot_runs_on_the_file_or_without_a_target(archive, postgres_url):
    with InstanceLock(archive, "run"):
        result = move(archive, postgres_url)
    assert result.exit_code == 1 and "in use by botsvc run" in result.output
    missing = CliRunner().invoke(cli, ["migrate-to-postgres", "--from", str(archive)])
    assert missing.exit_code == 2 and "BOTSVC_DATABASE_URL=postgresql://" in missing.output
    gone = move(archive.with_name("nope.db"), postgres_url)
    assert gone.exit_code == 1 and "no SQLite database here" in gone.output


def test_numbered_columns_go_on_counting_after_the_copied_numbers(archive, postgres_url):
    """A column PostgreSQL numbers by a sequence (a change counter, say) continues above the copied values."""
    lite = open_store(archive, create=False)
    try:
        with lite.atomic():
            lite.db.execute("ALTER TABLE events ADD COLUMN change INTEGER")
            lite.db.execute("UPDATE events SET change = id + 1000")
        highest = lite.db.execute("SELECT max(change) FROM events").fetchone()[0]
    finally:
        lite.close()
    pg = open_store(postgres_url)
    try:
        with pg.atomic():
            pg.db.execute("ALTER TABLE events ADD COLUMN change BIGSERIAL")
    finally:
        pg.close()
    assert move(archive, postgres_url).exit_code == 0
    pg = open_store(postgres_url)
    try:
        with pg.atomic():
            new = pg.create_event(title="new", topic=None, published=None, outlet="x", when=utcnow())
        assert pg.db.execute("SELECT change FROM events WHERE id = ?", (new,)).fetchone()[0] == highest + 1
    finally:
        pg.close()


def test_a_row_sqlite_cannot_read_is_one_line_and_nothing_is_copied(archive, postgres_url):
    lite = open_store(archive, create=False)
    try:
        with lite.atomic():  # bytes that are not UTF-8, kept as text
            lite.db.execute("UPDATE feeds SET url = CAST(x'ff' AS TEXT) WHERE name = 'extra'")
    finally:
        lite.close()
    result = move(archive, postgres_url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "copying feeds failed" in result.output and "nothing was copied" in result.output
    assert not contents(postgres_url, "articles")
