"""PostgreSQL as the store: how it is chosen, what differs from SQLite, and the SQL translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli
from botsvc.service.lock import InstanceLock
from botsvc.store import errors, postgres
from botsvc.store.backends import to_psycopg
from botsvc.store.backup import backup
from botsvc.store.store import StoreError, open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


@pytest.mark.parametrize(
    "sqlite,psycopg",
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("SELECT * FROM t WHERE a = :a AND b > :after", "SELECT * FROM t WHERE a = %(a)s AND b > %(after)s"),
        ("SELECT '?', 'it''s :x', \"q?\" FROM t WHERE k = ?", "SELECT '?', 'it''s :x', \"q?\" FROM t WHERE k = %s"),
        (
            "SELECT key FROM s WHERE key LIKE 'guid:%' AND n = ?",
            "SELECT key FROM s WHERE key LIKE 'guid:%%' AND n = %s",
        ),
        ("SELECT CAST(:q AS tsquery), x::text, 5 % 2", "SELECT CAST(%(q)s AS tsquery), x::text, 5 %% 2"),
        ("SELECT 1 -- what? :no\nFROM t WHERE a = ?", "SELECT 1 -- what? :no\nFROM t WHERE a = %s"),
    ],
)
def test_sqlite_placeholders_become_psycopgs_outside_strings_and_comments(sqlite, psycopg):
    assert to_psycopg(sqlite) == psycopg


def test_one_except_clause_catches_both_databases_errors(postgres_url, tmp_path):
    lite, pg = open_store(tmp_path / "e.db"), open_store(postgres_url)
    try:
        for store in (lite, pg):
            store.set_state("k", "v")
            with pytest.raises(errors.IntegrityError):
                with store.atomic():
                    store.db.execute("INSERT INTO bot_state (key, value) VALUES ('k', 'again')")
            with pytest.raises(errors.DatabaseError):
                store.db.execute("SELECT no_such_column FROM bot_state")
            if store.db.conn.in_transaction:  # SQLite opens one implicitly; PostgreSQL is in autocommit
                store.db.conn.rollback()
            assert store.get_state("k") == "v"
    finally:
        lite.close()
        pg.close()


def test_a_nested_atomic_block_is_a_savepoint_on_postgres(postgres_url):
    store = open_store(postgres_url)
    try:
        with store.atomic():
            store.set_state("outer", "1")
            with pytest.raises(errors.IntegrityError):
                with store.atomic():
                    store.set_state("inner", "1")
                    store.db.execute("INSERT INTO bot_state (key, value) VALUES ('outer', 'x')")
            store.set_state("after", "1")  # the transaction goes on after the savepoint's rollback
        assert [store.get_state(k) for k in ("outer", "inner", "after")] == ["1", None, "1"]
        with pytest.raises(RuntimeError):
            with store.atomic():
                store.set_state("lost", "1")
                raise RuntimeError
        assert store.get_state("lost") is None and not store.db.conn.in_transaction
    finally:
        store.close()


def test_botsvc_database_url_puts_the_commands_on_postgres(postgres_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTSVC_DB", str(tmp_path / "botsvc.db"))  # as the image sets it
    monkeypatch.setenv("BOTSVC_DATABASE_URL", postgres_url)
    seeded = CliRunner().invoke(cli, ["seed", "--config", str(EXAMPLES)])
    assert seeded.exit_code == 0, seeded.output
    assert not (tmp_path / "botsvc.db").exists()  # nothing went to the default SQLite file
    found = CliRunner().invoke(cli, ["search", "gsomia", "--json", "--config", str(EXAMPLES)])
    assert found.exit_code == 0 and '"event_id"' in found.output, found.output
    store = open_store(postgres_url)
    try:
        assert store.counts()["articles"] > 0
    finally:
        store.close()
    # --db on the command line still names a SQLite file, whatever the environment says.
    local = CliRunner().invoke(cli, ["seed", "--db", str(tmp_path / "local.db"), "--config", str(EXAMPLES)])
    assert local.exit_code == 0 and (tmp_path / "local.db").exists()


def test_a_bad_database_url_is_one_line(monkeypatch):
    monkeypatch.delenv("BOTSVC_DB", raising=False)
    monkeypatch.setenv("BOTSVC_DATABASE_URL", "mysql://x")
    result = CliRunner().invoke(cli, ["search", "gsomia", "--config", str(EXAMPLES)])
    assert result.exit_code == 2 and "must be a postgresql:// URL" in result.output
    monkeypatch.setenv("BOTSVC_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    result = CliRunner().invoke(cli, ["search", "gsomia", "--config", str(EXAMPLES)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot open database postgresql://nobody:***@127.0.0.1:1/none" in result.output
    assert "secret" not in result.output
    postgres.close_pools()


def test_one_poller_per_postgres_database_and_backups_point_to_pg_dump(postgres_url, tmp_path):
    with InstanceLock(postgres_url, "run"):
        with pytest.raises(StoreError, match=r"in use by botsvc run \(pid \d+\); stop it first"):
            with InstanceLock(postgres_url, "poll"):
                pass
    with InstanceLock(postgres_url, "poll"):  # released with its connection
        pass
    with pytest.raises(StoreError, match="pg_dump"):
        backup(postgres_url, tmp_path / "copy.db")


def test_articles_without_a_search_vector_are_indexed_by_the_migration_step(postgres_url):
    """Rows written without the store's vector (copied in from elsewhere) become searchable as
    the SQLite triggers would make them, Korean inside unspaced text included."""
    from botsvc.store.migrate import POSTGRES_STEPS
    from botsvc.store.search import search_events

    store = open_store(postgres_url)
    try:
        with store.atomic():
            event = store.db.execute(
                "INSERT INTO events (title, first_seen, last_seen, member_count) "
                "VALUES ('Pact', '2019-08-22T00:00:00+00:00', '2019-08-22T00:00:00+00:00', 1) RETURNING id"
            ).fetchone()[0]
            store.db.execute(
                "INSERT INTO articles (feed, guid, url, title, source, event_id, first_seen) "
                "VALUES ('f', '1', 'https://x/', '정부, 지소미아를 종료', 'Wire', ?, '2019-08-22T00:00:00+00:00')",
                (event,),
            )
        assert search_events(store, "지소미아") == []
        with store.atomic():
            [step] = POSTGRES_STEPS.values()
            step(store.db)
        assert [hit.event_id for hit in search_events(store, "지소미아")] == [event]
    finally:
        store.close()
