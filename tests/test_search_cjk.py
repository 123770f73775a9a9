"""Searching Korean and Japanese reports: words inside unspaced text are found.

Korean attaches particles to words (지소미아를, 지소미아가) and Japanese has no spaces at
all, so whole-run tokens would make a search for 지소미아 or 輸出規制 find nothing.
"""

import asyncio
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botsvc.chat.commands import CommandCore
from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.service.cycle import FeedTarget, run_cycle
from botsvc.store import searchtext
from botsvc.store.migrate import apply_migrations
from botsvc.store.search import search_events
from botsvc.store.searchtext import fts_query, pg_tsquery, search_text, tsvector

ROOT = Path(__file__).resolve().parents[1]
USER = CommandContext(platform="slack", channel="C1", workspace="T1", user="U1", can_manage=False)

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>아시아 뉴스</title>
<item><title>정부, 한일 지소미아를 종료하기로 결정</title><guid>ko-1</guid>
<link>https://ko.example.org/1</link><pubDate>Thu, 22 Aug 2019 10:00:00 GMT</pubDate>
<description>청와대는 일본과의 군사정보보호협정을 연장하지 않겠다고 밝혔다.</description></item>
<item><title>日本政府、韓国への輸出規制強化を発表</title><guid>ja-1</guid>
<link>https://ja.example.org/1</link><pubDate>Mon, 01 Jul 2019 03:00:00 GMT</pubDate>
<description>半導体材料3品目の輸出管理を厳格化する。</description></item>
<item><title>Seoul ends GSOMIA with Japan (지소미아 종료)</title><guid>en-1</guid>
<source url="https://en.example.org/rss">Seoul Wire</source>
<link>https://en.example.org/1</link><pubDate>Thu, 22 Aug 2019 12:00:00 GMT</pubDate></item>
</channel></rss>"""


@pytest.fixture()
def app(tmp_path, db_at):
    feed = tmp_path / "asia.xml"
    feed.write_text(FEED, encoding="utf-8")
    app = open_app(ROOT / "feeds.toml", db_at("cjk.db"))
    asyncio.run(run_cycle(app.store, app.processor, [FeedTarget(name="asia", url=str(feed))], app.policy))
    assert app.store.counts()["articles"] == 3  # all three are on-topic
    yield app
    app.close()


def titles(app, text):
    return [hit.title for hit in search_events(app.store, text)]


def test_search_text_splits_unspaced_scripts_into_overlapping_pairs():
    assert search_text("Seoul 지소미아를, 종료") == "Seoul 지소 소미 미아 아를 를 , 종료 료"
    assert search_text("輸出規制") == "輸出 出規 規制 制"
    assert search_text("GSOMIA") == "GSOMIA"


def test_a_query_word_in_an_unspaced_script_is_a_phrase_of_its_pairs():
    assert fts_query("지소미아") == '"지소 소미 미아"'
    assert fts_query("GSOMIA 종료") == '"GSOMIA" "종료"'
    assert fts_query("韓") == '"韓"*'
    assert fts_query('輸出"規制') == '"輸出" "規制"'


@pytest.mark.parametrize(
    "query,expected",
    [
        ("지소미아", "정부, 한일 지소미아를 종료하기로 결정"),
        ("군사정보보호협정", "정부, 한일 지소미아를 종료하기로 결정"),
        ("輸出規制", "日本政府、韓国への輸出規制強化を発表"),
        ("半導体材料", "日本政府、韓国への輸出規制強化を発表"),
        ("韓国", "日本政府、韓国への輸出規制強化を発表"),
    ],
)
def test_a_word_inside_korean_or_japanese_text_is_found(app, query, expected):
    assert expected in titles(app, query)


def test_english_search_is_unchanged_and_scripts_mix(app):
    korean_event = ["정부, 한일 지소미아를 종료하기로 결정"]  # the English report joined it
    assert titles(app, "GSOMIA") == korean_event and titles(app, "seoul ends") == korean_event
    assert titles(app, "GSOMIA 지소미아") == korean_event and titles(app, "Seoul 종료") == korean_event
    assert titles(app, "輸出 지소미아") == []  # every word must match one report


def test_words_that_only_touch_across_reports_do_not_match(app):
    assert titles(app, "미아아를") == []  # not a substring of any report
    assert titles(app, "規制強化発表") == []


def test_chat_search_answers_in_korean(app):
    reply = asyncio.run(CommandCore(app.store, app.config).run("search 지소미아", USER))
    assert reply.ok and any("지소미아를" in line.text for line in reply.lines)


SPACING = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>뉴스</title>
<item><title>일본, 한국에 대한 수출 규제 강화 발표</title><guid>ko-spaced</guid>
<link>https://ko.example.org/spaced</link><pubDate>Mon, 01 Jul 2019 05:00:00 GMT</pubDate></item>
<item><title>日本政府、韓国向け半導体材料の輸出規制を強化</title><guid>ja-unspaced</guid>
<link>https://ja.example.org/unspaced</link><pubDate>Mon, 01 Jul 2019 06:00:00 GMT</pubDate></item>
</channel></rss>"""


def spaced_app(tmp_path, location):
    feed = tmp_path / "spacing.xml"
    feed.write_text(SPACING, encoding="utf-8")
    app = open_app(ROOT / "feeds.toml", location)
    asyncio.run(run_cycle(app.store, app.processor, [FeedTarget(name="spacing", url=str(feed))], app.policy))
    assert app.store.counts()["articles"] == 2
    return app


@pytest.fixture()
def spaced(tmp_path, db_at):
    app = spaced_app(tmp_path, db_at("spacing.db"))
    yield app
    app.close()


@pytest.fixture()
def spaced_sqlite(tmp_path):
    app = spaced_app(tmp_path, tmp_path / "spacing.db")
    yield app
    app.close()


@pytest.mark.parametrize(
    "query,expected",
    [
        ("수출규제", "일본, 한국에 대한 수출 규제 강화 발표"),  # spelled with a space in the headline
        ("수출 규제", "일본, 한국에 대한 수출 규제 강화 발표"),
        ("규제강화", "일본, 한국에 대한 수출 규제 강화 발표"),
        ("輸出規制", "日本政府、韓国向け半導体材料の輸出規制を強化"),  # Japanese, inside unspaced text
        ("輸出 規制", "日本政府、韓国向け半導体材料の輸出規制を強化"),
        ("半導体材料", "日本政府、韓国向け半導体材料の輸出規制を強化"),
    ],
)
def test_korean_is_found_across_spacing_variants_and_japanese_inside_unspaced_text(spaced, query, expected):
    assert expected in titles(spaced, query)


def test_spacing_does_not_join_across_punctuation(spaced):
    assert titles(spaced, "일본한국") == []  # "일본, 한국": a comma, not a spacing variant


def test_the_migration_reindexes_articles_stored_before_it(spaced_sqlite):
    """A database indexed the earlier way (runs paired one by one) finds 수출규제 once upgraded."""
    spaced = spaced_sqlite
    conn = spaced.store.db.conn
    earlier = "일본 본 , 한국에 국에 에 대한 한 수출 출 규제 제 강화 화 발표 표"
    with spaced.store.atomic():
        conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('delete-all')")
        conn.execute(
            "INSERT INTO articles_fts (rowid, title, summary, body) SELECT id, ?, '', '' FROM articles", (earlier,)
        )
        conn.execute("DELETE FROM _migrations WHERE name LIKE '%_search_across_korean_spacing'")
    assert "일본, 한국에 대한 수출 규제 강화 발표" not in titles(spaced, "수출규제")
    [migration] = (ROOT / "migrations" / "sqlite").glob("*_search_across_korean_spacing.sql")
    assert apply_migrations(conn) == [migration.stem]
    assert "일본, 한국에 대한 수출 규제 강화 발표" in titles(spaced, "수출규제")
    assert titles(spaced, "輸出規制") == ["日本政府、韓国向け半導体材料の輸出規制を強化"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=60))
def test_any_user_text_is_a_valid_query_or_none(text):
    query = fts_query(text)
    if query is not None:
        FTS.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchone()


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=60))
def test_any_user_text_is_a_valid_postgres_query_or_none(postgres_text_search, text):
    """The same on PostgreSQL: the terms become a tsquery that is never parsed as syntax."""
    for title_only in (False, True):
        query = pg_tsquery(text, title_only=title_only)
        assert (query is None) == (fts_query(text) is None)
        if query is not None:
            postgres_text_search.execute("SELECT %s::tsvector @@ %s::tsquery", (INDEXED, query)).fetchone()


@pytest.fixture(scope="module")
def postgres_text_search(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        yield conn


INDEXED = tsvector("Seoul 지소미아를 종료", "輸出規制", "")
FTS = sqlite3.connect(":memory:")
FTS.execute("CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize='unicode61 remove_diacritics 2')")
FTS.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (search_text("Seoul 지소미아를 종료 輸出規制"),))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_is_indexed_as_the_unicode_path_would_index_it(text):
    """search_text's shortcut for ASCII (no NFKC, no pairing) gives the words the full path gives."""
    full = " ".join(
        searchtext._CJK_SPACED_RUN.sub(searchtext._spaced_pairs, unicodedata.normalize("NFKC", text)).split()
    )
    assert search_text(text) == full
