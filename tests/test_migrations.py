"""Schema is created and upgraded only by the numbered files in migrations/."""

import re
import shutil
import sqlite3
from datetime import datetime, timezone

import pytest

from botsvc.store.migrate import apply_migrations, discover, migrations_dir
from botsvc.store.store import open_store


def tables(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def test_migrations_are_numbered_without_gaps():
    found = discover()
    assert [m.version for m in found] == list(range(1, len(found) + 1))


def test_fresh_database_gets_every_migration(tmp_path):
    store = open_store(tmp_path / "fresh.db")
    versions = [r["version"] for r in store.query("SELECT version FROM _migrations ORDER BY version")]
    assert versions == [m.version for m in discover()]
    assert {"feeds", "articles", "events", "seen_items"} <= tables(store.db.conn)
    assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    store.close()


def test_database_at_0001_upgrades_in_place_keeping_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=1)
    conn.execute("INSERT INTO feeds (name, url) VALUES ('kept', 'https://example.org/rss')")
    conn.commit()
    conn.close()

    store = open_store(path)
    versions = [r["version"] for r in store.query("SELECT version FROM _migrations ORDER BY version")]
    assert versions == [m.version for m in discover()]
    assert store.feed_state("kept").url == "https://example.org/rss"
    store.close()


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "again.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    assert apply_migrations(conn) == []
    conn.close()


def test_failed_migration_rolls_back_and_says_which(tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    (folder / f"{len(discover()) + 1:04d}_broken.sql").write_text("CREATE TABLE ok_part (x);\nNOT SQL;\n")
    conn = sqlite3.connect(tmp_path / "broken.db")
    with pytest.raises(RuntimeError, match="_broken.sql"):
        apply_migrations(conn, folder)
    assert "ok_part" not in tables(conn)


def test_badly_named_migration_is_refused(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "init.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_name.sql"):
        discover(folder)


def database_at(path, version: int, title: str, summary: str = "") -> sqlite3.Connection:
    """A database migrated up to ``version`` holding one event with one article."""
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=version)
    conn.execute(
        "INSERT INTO events (id, title, first_seen, last_seen, member_count) "
        "VALUES (1, 'Old', '2019-08-22T00:00:00+00:00', '2019-08-22T00:00:00+00:00', 1)"
    )
    conn.execute(
        "INSERT INTO articles (id, feed, guid, url, title, summary, source, event_id, first_seen, topics) "
        "VALUES (1, 'f', 'g', 'https://x/1', ?, ?, 'Wire', 1, '2019-08-22T00:00:00+00:00', '[]')",
        (title, summary),
    )
    conn.commit()
    return conn


def test_articles_stored_before_0004_become_searchable_and_triggers_keep_fts_in_sync(tmp_path):
    from botsvc.store.search import search_events

    path = tmp_path / "old3.db"
    database_at(path, 3, "Seoul ends GSOMIA").close()

    store = open_store(path)
    assert [h.event_id for h in search_events(store, "gsomia")] == [1]
    store.db.execute("UPDATE articles SET title = 'Seoul keeps the pact' WHERE id = 1")
    assert search_events(store, "gsomia") == [] and [h.event_id for h in search_events(store, "pact")] == [1]
    store.db.execute("DELETE FROM articles WHERE id = 1")
    assert search_events(store, "pact") == []
    store.close()


def test_0007_reindexes_korean_and_japanese_text_and_triggers_keep_it_in_sync(tmp_path, caplog):
    from botsvc.store.search import search_events

    path = tmp_path / "old6.db"
    conn = database_at(path, 6, "한일 지소미아를 종료", "輸出規制強化")
    assert conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH '\"지소미아\"'").fetchone()[0] == 0
    conn.close()

    with caplog.at_level("INFO", logger="botsvc.store.migrate"):
        store = open_store(path)
    assert "database upgraded: 0007_search_inside_cjk_text applied in" in caplog.text
    assert [h.event_id for h in search_events(store, "지소미아")] == [1]
    assert [h.event_id for h in search_events(store, "規制")] == [1]
    store.db.execute("UPDATE articles SET title = '한일 정상회담' WHERE id = 1")
    assert search_events(store, "지소미아") == [] and [h.event_id for h in search_events(store, "정상")] == [1]
    store.db.execute("DELETE FROM articles WHERE id = 1")
    assert search_events(store, "정상") == [] and search_events(store, "規制") == []
    leftover = store.db.execute("SELECT count(*) FROM articles_fts_docsize").fetchone()[0]
    assert leftover == 0
    store.close()


def test_not_relevant_reports_from_several_channels_become_one_per_person_and_event(tmp_path):
    """Databases from before reports counted once per workspace kept one per channel: the first stays."""
    [version] = [m.version for m in discover() if m.name.endswith("_one_report_per_person")]
    conn = sqlite3.connect(tmp_path / "r.db")
    apply_migrations(conn, upto=version - 1)
    conn.executemany(
        "INSERT INTO relevance_feedback (event_id, platform, workspace, channel, user, reported_at) "
        "VALUES (?, 'slack', 'T1', ?, ?, ?)",
        [(7, f"C{n}", "U2", f"2019-08-22T0{n}:00:00+00:00") for n in range(1, 9)]
        + [(7, "C1", "U3", "2019-08-22T09:00:00+00:00"), (8, "C2", "U2", "2019-08-22T09:30:00+00:00")],
    )
    conn.commit()
    apply_migrations(conn)
    rows = conn.execute("SELECT event_id, channel, user, reported_at FROM relevance_feedback ORDER BY id").fetchall()
    assert rows == [
        (7, "C1", "U2", "2019-08-22T01:00:00+00:00"),
        (7, "C1", "U3", "2019-08-22T09:00:00+00:00"),
        (8, "C2", "U2", "2019-08-22T09:30:00+00:00"),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO relevance_feedback (event_id, platform, workspace, channel, user, reported_at) "
            "VALUES (7, 'slack', 'T1', 'D9', 'U2', '2019-08-23T00:00:00+00:00')"
        )
    conn.close()


def test_fingerprints_from_before_the_relation_kinds_are_recomputed_with_them(tmp_path):
    from botsvc.judge.fingerprint import Fingerprint, token_hash
    from botsvc.store.events import item_fingerprint_bytes

    kinds = next(m for m in discover() if m.name.endswith("_concept_kinds"))
    path = tmp_path / "kinds.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=kinds.version - 1)
    conn.execute("INSERT INTO events (id, title, first_seen, last_seen) VALUES (1, 't', '2027-03-02', '2027-03-02')")
    conn.execute(
        "INSERT INTO articles (feed, guid, url, title, source, first_seen, event_id, fingerprint) "
        "VALUES ('f', 'g', 'https://example.org/a', '한일 국방장관, 양해각서 체결', 's', '2027-03-02', 1, ?)",
        (Fingerprint((), b"").to_bytes(),),
    )
    conn.commit()
    conn.close()

    store = open_store(path)
    (row,) = store.article_fingerprints(backfill=item_fingerprint_bytes)
    assert token_hash("§memorandum") in Fingerprint.from_bytes(row["fingerprint"]).hashes
    store.close()


def test_event_outlets_move_from_the_json_list_to_their_own_table_in_order(tmp_path):
    outlets = next(m for m in discover(migrations_dir("sqlite")) if m.name.endswith("_event_outlets"))
    path = tmp_path / "outlets.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=outlets.version - 1)
    conn.executemany(
        "INSERT INTO events (id, title, first_seen, last_seen, member_count, outlets) "
        "VALUES (?, 't', '2027-03-02', '2027-03-02', 1, ?)",
        [(1, '["Wire", "연합뉴스", "Asahi"]'), (2, "[]"), (3, "not json")],
    )
    conn.commit()
    conn.close()

    store = open_store(path)
    assert "outlets" not in {row["name"] for row in store.query("PRAGMA table_info(events)")}
    assert store.event(1)["outlets"] == ["Wire", "연합뉴스", "Asahi"]
    assert store.event(2)["outlets"] == [] and store.event(3)["outlets"] == []
    when = datetime(2027, 3, 3, tzinfo=timezone.utc)
    store.add_event_member(1, published=None, outlet="Kyodo", when=when)
    store.add_event_member(1, published=None, outlet="Wire", when=when)  # a known outlet adds nothing
    assert store.event(1)["outlets"] == ["Wire", "연합뉴스", "Asahi", "Kyodo"]
    store.db.execute("DELETE FROM events WHERE id = 1")
    assert store.query("SELECT count(*) AS n FROM event_outlets WHERE event_id = 1")[0]["n"] == 0
    store.close()


def test_a_new_outlet_goes_after_the_last_one_even_past_a_gap_in_the_positions(tmp_path):
    """A list that named an outlet twice leaves a gap in the positions: a new outlet still comes last."""
    outlets = next(m for m in discover(migrations_dir("sqlite")) if m.name.endswith("_event_outlets"))
    path = tmp_path / "gap.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn, upto=outlets.version - 1)
    conn.execute(
        "INSERT INTO events (id, title, first_seen, last_seen, member_count, outlets) "
        "VALUES (1, 't', '2027-03-02', '2027-03-02', 3, '[\"Asahi\", \"Asahi\", \"Wire\"]')"
    )
    conn.commit()
    conn.close()

    store = open_store(path)
    assert store.event(1)["outlets"] == ["Asahi", "Wire"]
    store.add_event_member(1, published=None, outlet="Kyodo", when=datetime(2027, 3, 3, tzinfo=timezone.utc))
    assert store.event(1)["outlets"] == ["Asahi", "Wire", "Kyodo"]
    store.close()


# -- PostgreSQL: a baseline equal to SQLite's schema, then the same numbered migrations ------


def columns_sqlite(store):
    names = [r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        name: {r["name"] for r in store.query(f"PRAGMA table_info({name})")}
        for name in names
        if not name.startswith(("articles_fts", "sqlite_"))
    }


def columns_postgres(store):
    rows = store.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


def test_postgres_migrations_start_at_a_baseline_and_follow_sqlites_numbers():
    sqlite, postgres = discover(migrations_dir("sqlite")), discover(migrations_dir("postgres"))
    baseline = postgres[0]
    assert "baseline" in baseline.name
    assert [m.version for m in sqlite if m.version >= baseline.version] == [m.version for m in postgres]
    later = [m.name for m in sqlite if m.version > baseline.version]
    assert later == [m.name for m in postgres[1:]], "every later migration exists in both folders, same name"


def test_a_fresh_postgres_database_has_sqlites_tables_and_columns(tmp_path, postgres_url):
    lite = open_store(tmp_path / "fresh.db")
    pg = open_store(postgres_url)
    try:
        assert pg.dialect == "postgres" and lite.dialect == "sqlite"
        versions = [r["version"] for r in pg.query("SELECT version FROM _migrations ORDER BY version")]
        assert versions == [m.version for m in discover(migrations_dir("postgres"))]
        expected = columns_sqlite(lite)
        expected["articles"].add("search")  # the tsvector PostgreSQL searches (SQLite: articles_fts)
        assert columns_postgres(pg) == expected
        # Rows the migrations write into a new database too (the outbox key token: six hex digits).
        assert [r["key"] for r in pg.query("SELECT key FROM bot_state ORDER BY key")] == [
            r["key"] for r in lite.query("SELECT key FROM bot_state ORDER BY key")
        ]
        assert re.fullmatch("[0-9a-f]{6}", pg.get_state("outbox_key_token") or "")
    finally:
        lite.close()
        pg.close()


def test_ten_workers_starting_at_once_migrate_a_postgres_database_once(postgres_url):
    """Each opens its own connection (as a process would) and migrates; the advisory lock lets one do it."""
    import threading

    from botsvc.store import postgres
    from botsvc.store.migrate import apply_postgres_migrations

    start = threading.Barrier(10)
    applied: list[list[str]] = []
    failures: list[BaseException] = []

    def worker():
        db = postgres.connect(postgres_url)
        try:
            start.wait()
            applied.append(apply_postgres_migrations(db))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(len(names) for names in applied) == [0] * 9 + [len(discover(migrations_dir("postgres")))]
    store = open_store(postgres_url)
    assert store.query("SELECT count(*) AS n FROM _migrations")[0]["n"] == len(discover(migrations_dir("postgres")))
    store.close()


def test_a_failed_postgres_migration_rolls_back_says_which_and_releases_the_lock(tmp_path, postgres_url):
    from botsvc.store import postgres
    from botsvc.store.migrate import apply_postgres_migrations

    folder = tmp_path / "postgres"
    shutil.copytree(migrations_dir("postgres"), folder)
    last = discover(folder)[-1].version
    (folder / f"{last + 1:04d}_broken.sql").write_text("CREATE TABLE ok_part (x INTEGER);\nNOT SQL;\n")
    db = postgres.connect(postgres_url)
    try:
        with pytest.raises(RuntimeError, match="_broken.sql"):
            apply_postgres_migrations(db, folder)
        assert db.execute("SELECT to_regclass('ok_part')").fetchone()[0] is None
        applied = [row[0] for row in db.execute("SELECT version FROM _migrations ORDER BY version")]
        assert applied == [m.version for m in discover(folder) if m.version <= last]
    finally:
        db.close()
    other = postgres.connect(postgres_url)  # the lock was released: another process migrates
    try:
        assert apply_postgres_migrations(other) == []
    finally:
        other.close()
