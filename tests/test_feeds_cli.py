"""`botsvc feeds` as a group: the listing as before, OPML import and export, preview; real CLI, real store."""

import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_feed_discovery import FRESH, HTML, counts, page

from botsvc.cli import cli
from botsvc.ingest.opml import OpmlError, read_opml
from botsvc.service.app import open_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
READER = ROOT / "tests" / "fixtures" / "opml" / "reader-export.opml"


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def web_config(path: Path, *, feeds: bool = True) -> Path:
    """The example topics, with the sample feeds at web addresses (or no feeds at all)."""
    text = EXAMPLES.read_text()
    if feeds:
        text = text.replace('url = "feeds/', 'url = "https://feeds.example.org/').replace(
            'name = "Seoul Wire"', 'name = "Seoul Wire"\nlanguage = "ko"'
        )
    else:
        text = re.sub(r"\[\[feeds\]\]\nname = [^\n]*\nurl = [^\n]*\n", "", text)
    path.write_text(text)
    return path


def database(tmp_path: Path, config: Path, name: str = "bot.db") -> Path:
    db = tmp_path / name
    assert run_cli("seed", "--db", db, "--config", config).exit_code == 0
    return db


def feeds_of(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT name, url, origin FROM feeds ORDER BY name").fetchall()


def test_feeds_and_feeds_list_print_the_health_listing(tmp_path):
    db = database(tmp_path, EXAMPLES)
    plain = run_cli("feeds", "--db", db, "--config", EXAMPLES)
    listed = run_cli("feeds", "list", "--db", db, "--config", EXAMPLES)
    assert plain.exit_code == listed.exit_code == 0
    assert plain.stdout == listed.stdout and plain.stdout.startswith("5 feed(s):")
    assert "Seoul Wire: not polled yet" in plain.stdout


def test_reading_a_reader_export():
    outlines = read_opml(READER.read_bytes())
    assert [o.url for o in outlines] == [
        "https://koreadesk.example.org/rss/politics.xml",
        "https://hangyeol.example.com/rss/politics",
        "https://policy-review.example.org/feed/",
        "https://tokyoledger.example.net/diplomacy/atom.xml",
        "https://toa-jiho.example.net/rss/gaiko.rdf",
        "https://koreadesk.example.org/rss/politics.xml",
        "feed://podcasts.example.net/show.xml",
        "http://10.1.2.3/wiki/recent.rss",
    ]
    assert outlines[2].title == "" and outlines[2].category == "Korea / Think tanks"
    assert outlines[1].language == "ko" and outlines[0].html_url == "https://koreadesk.example.org/politics"


@pytest.mark.parametrize(
    "data,problem",
    [
        (b'<!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body/></opml>', "DOCTYPE"),
        (b'<opml><body><outline xmlUrl="&a;"/></body></opml><!ENTITY a "x">', "entity"),
        (b"<opml><body><outline", "not well-formed"),
        (b"<rss version='2.0'/>", "not <opml>"),
        (b"<opml version='2.0'><head/></opml>", "no <body>"),
    ],
)
def test_unreadable_opml_is_refused(data, problem):
    with pytest.raises(OpmlError, match=problem):
        read_opml(data)


def test_import_reports_every_outline_and_never_stops_half_way(tmp_path, monkeypatch):
    monkeypatch.delenv("BOTSVC_ALLOW_PRIVATE_FEEDS", raising=False)
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    before = feeds_of(db)
    result = run_cli("feeds", "import", READER, "--db", db, "--config", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "8 feed(s) in reader-export.opml: 5 added, 1 skipped, 2 refused"
    assert lines[0] == (
        "added: Korea Desk | Politics <https://koreadesk.example.org/rss/politics.xml>: 'Korea Desk | Politics'"
    )
    assert "added: https://policy-review.example.org/feed/ <https://policy-review.example.org/feed/>: " in lines[2]
    assert lines[5].startswith("skipped: Korea Desk (politics, again) <") and lines[5].endswith("already polled")
    assert lines[6].startswith("refused: A podcast <feed://") and "only http:// and https://" in lines[6]
    assert lines[7].startswith("refused: Intranet wiki <http://10.1.2.3/") and "internal address" in lines[7]
    added = [row for row in feeds_of(db) if row not in before]
    assert {origin for _, _, origin in added} == {"chat"}
    assert ("policy-review.example.org", "https://policy-review.example.org/feed/", "chat") in added
    assert ("東亜時報 外交", "https://toa-jiho.example.net/rss/gaiko.rdf", "chat") in added
    # Again: everything is known now, nothing changes.
    again = run_cli("feeds", "import", READER, "--db", db, "--config", config)
    assert again.stdout.splitlines()[-1] == "8 feed(s) in reader-export.opml: 0 added, 6 skipped, 2 refused"
    assert len(feeds_of(db)) == len(before) + 5
    # The imported feeds are polled (and listed) like feeds added from chat.
    listing = run_cli("feeds", "--db", db, "--config", config).stdout
    assert "Korea Desk | Politics: OK · last success never · 0 item(s) seen · added from chat" in listing
    app = open_app(config, db)
    try:
        assert "https://hangyeol.example.com/rss/politics" in {t.url for t in app.targets()}
    finally:
        app.close()


def test_a_configured_feeds_address_is_skipped(tmp_path):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    opml = tmp_path / "one.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="x" xmlUrl="https://feeds.example.org/seoul-wire.xml"/></body></opml>'
    )
    result = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    assert result.stdout.splitlines()[-1].endswith("0 added, 1 skipped, 0 refused")


def test_a_bad_file_imports_nothing(tmp_path):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    before = feeds_of(db)
    bad = tmp_path / "bad.opml"
    bad.write_text('<!DOCTYPE opml SYSTEM "http://example.org/x.dtd"><opml><body/></opml>')
    result = run_cli("feeds", "import", bad, "--db", db, "--config", config)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"botsvc: error: {bad}: DOCTYPE and entity declarations are not accepted in OPML files; nothing imported"
    )
    missing = run_cli("feeds", "import", tmp_path / "nope.opml", "--db", db, "--config", config)
    assert missing.exit_code == 2 and "cannot read it" in missing.stderr
    assert feeds_of(db) == before


def test_export_writes_opml_2_with_every_feed(tmp_path):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    run_cli("feeds", "import", READER, "--db", db, "--config", config)
    result = run_cli("feeds", "export", "--db", db, "--config", config)
    assert result.exit_code == 0, result.output
    root = ET.fromstring(result.stdout)
    assert root.tag == "opml" and root.get("version") == "2.0" and root.findtext("head/title") == "botsvc feeds"
    outlines = root.findall("body/outline")
    assert len(outlines) == 10  # five from feeds.toml, five imported
    first = outlines[0].attrib
    assert first == {
        "type": "rss",
        "text": "Seoul Wire",
        "title": "Seoul Wire",
        "xmlUrl": "https://feeds.example.org/seoul-wire.xml",
        "language": "ko",
    }
    assert outlines[1].get("language") == "en"  # the [defaults] language
    assert all(o.get("type") == "rss" and o.get("xmlUrl", "").startswith("https://") for o in outlines)


def test_export_then_import_into_a_fresh_database_gives_the_same_feeds(tmp_path):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    run_cli("feeds", "import", READER, "--db", db, "--config", config)
    exported = tmp_path / "out.opml"
    result = run_cli("feeds", "export", "--output", exported, "--db", db, "--config", config)
    assert result.exit_code == 0 and result.stdout == "" and "wrote 10 feed(s)" in result.stderr

    empty = web_config(tmp_path / "empty.toml", feeds=False)
    fresh = database(tmp_path, empty, "fresh.db")
    imported = run_cli("feeds", "import", exported, "--db", fresh, "--config", empty)
    assert imported.stdout.splitlines()[-1] == "10 feed(s) in out.opml: 10 added, 0 skipped, 0 refused"
    source = [f.attrib for f in ET.fromstring(exported.read_text()).findall("body/outline")]
    assert sorted((name, url) for name, url, _ in feeds_of(fresh)) == sorted((s["text"], s["xmlUrl"]) for s in source)
    again = run_cli("feeds", "export", "--db", fresh, "--config", empty).stdout
    names = [(o.get("text"), o.get("xmlUrl")) for o in ET.fromstring(again).findall("body/outline")]
    assert sorted(names) == sorted((s["text"], s["xmlUrl"]) for s in source)


def test_export_leaves_local_files_out_and_says_so(tmp_path):
    db = database(tmp_path, EXAMPLES)
    result = run_cli("feeds", "export", "--db", db, "--config", EXAMPLES)
    assert result.exit_code == 0
    assert ET.fromstring(result.stdout).findall("body/outline") == []
    assert "botsvc: Seoul Wire: a local file, not exported" in result.stderr


def test_feeds_preview_on_the_command_line_stores_nothing(tmp_path, feed_server, monkeypatch):
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", f"127.0.0.1:{feed_server.port}")
    db = database(tmp_path, EXAMPLES)
    url = feed_server.static("/", page(), content_type=HTML)
    feed_server.static("/feed", FRESH)
    before = counts(str(db)), db.read_bytes()
    result = run_cli("feeds", "preview", url, "--db", db, "--config", EXAMPLES)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Preview of 'Harbour Times' ({feed_server.url('/feed')}, found on that page)")
    assert "  new: Seoul and Tokyo agree to restore GSOMIA" in result.stdout
    assert "  irrelevant: City council approves" in result.stdout
    assert (counts(str(db)), db.read_bytes()) == before
    refused = run_cli("feeds", "preview", feed_server.url("/gone"), "--db", db, "--config", EXAMPLES)
    assert refused.exit_code == 1 and "No preview: no feed could be fetched" in refused.stderr
