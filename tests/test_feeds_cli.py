"""`botsvc feeds` as a group: the listing as before, OPML import and export, preview; real CLI, real store."""

import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

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


def serve_as(feed_server, url: str) -> str:
    """A loopback address serving a small feed titled after ``url``'s host (imports fetch each feed)."""
    parts = urlsplit(url)
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{parts.hostname}</title><link>{url}</link>'
        f"<item><title>One story</title><link>{url}#1</link></item></channel></rss>"
    ).encode()
    return feed_server.static(f"/{parts.hostname}{parts.path}", body)


def on_loopback(text: str, feed_server) -> str:
    """``text`` with each https:// address replaced by a loopback one serving a feed."""
    return re.sub(r"https://[^\"\s<]+", lambda m: serve_as(feed_server, m.group()), text)


@pytest.fixture
def loopback(feed_server, monkeypatch):
    """Only the test server's endpoint passes the address checks (no other traffic)."""
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", f"127.0.0.1:{feed_server.port}")
    return feed_server


def loopback_reader(tmp_path: Path, feed_server) -> Path:
    reader = tmp_path / "reader-export.opml"
    reader.write_text(on_loopback(READER.read_text(encoding="utf-8"), feed_server), encoding="utf-8")
    return reader


def loopback_config(path: Path, feed_server) -> Path:
    """The example topics, with the sample feeds served by the loopback server."""
    text = EXAMPLES.read_text()
    for sample in sorted((ROOT / "examples" / "feeds").glob("*.xml")):
        url = feed_server.static(f"/feeds.example.org/{sample.name}", sample.read_bytes())
        text = text.replace(f'url = "feeds/{sample.name}"', f'url = "{url}"')
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


def test_import_reports_every_outline_and_never_stops_half_way(tmp_path, loopback):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    before = feeds_of(db)
    reader = loopback_reader(tmp_path, loopback)
    korea, policy = (
        serve_as(loopback, f"https://{u}")
        for u in ("koreadesk.example.org/rss/politics.xml", "policy-review.example.org/feed/")
    )
    result = run_cli("feeds", "import", reader, "--db", db, "--config", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "8 feed(s) in reader-export.opml: 5 added, 1 skipped, 2 refused"
    assert lines[0] == f"added: Korea Desk | Politics <{korea}>: 'Korea Desk | Politics'"
    assert f"added: {policy} <{policy}>: 'policy-review.example.org'" in lines[2]
    assert lines[5].startswith("skipped: Korea Desk (politics, again) <") and lines[5].endswith("already polled")
    assert lines[6].startswith("refused: A podcast <feed://") and "only http:// and https://" in lines[6]
    assert lines[7].startswith("refused: Intranet wiki <http://10.1.2.3/") and "internal address" in lines[7]
    added = [row for row in feeds_of(db) if row not in before]
    assert {origin for _, _, origin in added} == {"chat"}
    assert ("policy-review.example.org", policy, "chat") in added
    assert ("東亜時報 外交", serve_as(loopback, "https://toa-jiho.example.net/rss/gaiko.rdf"), "chat") in added
    # Again: everything is known now, nothing changes (and nothing was added: status 1).
    again = run_cli("feeds", "import", reader, "--db", db, "--config", config)
    assert again.stdout.splitlines()[-1] == "8 feed(s) in reader-export.opml: 0 added, 6 skipped, 2 refused"
    assert again.exit_code == 1 and again.stderr.strip() == f"botsvc: error: {reader}: no feed was added"
    assert len(feeds_of(db)) == len(before) + 5
    # The imported feeds are polled (and listed) like feeds added from chat.
    listing = run_cli("feeds", "--db", db, "--config", config).stdout
    assert "Korea Desk | Politics: OK · last success never · 0 item(s) seen · added from chat" in listing
    app = open_app(config, db)
    try:
        assert serve_as(loopback, "https://hangyeol.example.com/rss/politics") in {t.url for t in app.targets()}
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


def test_export_writes_opml_2_with_every_feed(tmp_path, loopback):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    assert (
        run_cli("feeds", "import", loopback_reader(tmp_path, loopback), "--db", db, "--config", config).exit_code == 0
    )
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
    assert all(o.get("type") == "rss" and o.get("xmlUrl", "").startswith(("https://", "http://")) for o in outlines)


def test_export_then_import_into_a_fresh_database_gives_the_same_feeds(tmp_path, loopback):
    config = loopback_config(tmp_path / "feeds.toml", loopback)
    db = database(tmp_path, config)
    assert (
        run_cli("feeds", "import", loopback_reader(tmp_path, loopback), "--db", db, "--config", config).exit_code == 0
    )
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


def test_import_checks_each_feed_as_feed_add_does(tmp_path, loopback):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    before = feeds_of(db)
    gone = loopback.url("/gone.xml")  # answers 404
    html = loopback.static("/about", page(), content_type=HTML)  # a page naming no feed
    opml = tmp_path / "bad.opml"
    opml.write_text(
        f'<opml version="2.0"><body><outline text="Gone" xmlUrl="{gone}"/>'
        f'<outline text="Page" xmlUrl="{html}"/></body></opml>'
    )
    result = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    lines = result.stdout.splitlines()
    assert lines[0] == f"refused: Gone <{gone}>: no feed could be fetched from that address"
    assert lines[1].startswith(f"refused: Page <{html}>: that is not a readable RSS or Atom feed")
    assert lines[-1] == "2 feed(s) in bad.opml: 0 added, 0 skipped, 2 refused"
    assert result.exit_code == 1 and result.stderr.strip() == f"botsvc: error: {opml}: no feed was added"
    assert feeds_of(db) == before

    # A page that names its feed adds the feed (as `/news feed add` does), once.
    site = loopback.static(
        "/site", page('<link rel="alternate" type="application/rss+xml" href="/site.xml">'), content_type=HTML
    )
    feed = loopback.static("/site.xml", FRESH)
    opml.write_text(f'<opml version="2.0"><body><outline text="Site" xmlUrl="{site}"/></body></opml>')
    added = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines()[0] == f"added: Site <{site}>: 'Site'"
    assert ("Site", feed, "chat") in feeds_of(db)
    again = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    assert again.stdout.splitlines()[0] == f"skipped: Site <{site}>: its feed {feed} is already polled"


def test_an_empty_feed_list_adds_nothing_and_says_so(tmp_path):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    opml = tmp_path / "empty.opml"
    opml.write_text('<opml version="2.0"><body><outline text="Just a folder"/></body></opml>')
    result = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    assert result.stdout.splitlines()[-1] == "0 feed(s) in empty.opml: 0 added, 0 skipped, 0 refused"
    assert result.exit_code == 1 and "no feed was added" in result.stderr


def test_utf16_opml_with_declarations_is_refused_like_utf8():
    for encoding, name in (("utf-16", "UTF-16"), ("utf-16-be", "UTF-16BE"), ("utf-16-le", "UTF-16LE")):
        for declaration in (
            '<!DOCTYPE opml SYSTEM "http://example.org/x.dtd">',
            '<!DOCTYPE opml [<!ENTITY a "https://a.example/feed">]>',
        ):
            text = f'<?xml version="1.0" encoding="{name}"?>{declaration}<opml><body/></opml>'
            with pytest.raises(OpmlError, match="DOCTYPE and entity declarations are not accepted"):
                read_opml(text.encode(encoding))
    plain = '<?xml version="1.0" encoding="UTF-16"?><opml><body><outline xmlUrl="https://a.example/x"/></body></opml>'
    assert [o.url for o in read_opml(plain.encode("utf-16"))] == ["https://a.example/x"]
    with pytest.raises(OpmlError):  # an encoding the parser does not read is refused too
        read_opml(plain.replace("UTF-16", "UTF-32").encode("utf-32"))


def test_deeply_nested_opml_gives_one_line_not_a_recursion_error(tmp_path):
    deep = "<outline text='x'>" * 5000 + "<outline xmlUrl='https://a.example/x'/>" + "</outline>" * 5000
    with pytest.raises(OpmlError, match="nested more than 50 deep"):
        read_opml(f"<opml><body>{deep}</body></opml>".encode())
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    opml = tmp_path / "deep.opml"
    opml.write_text(f"<opml><body>{deep}</body></opml>")
    result = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"botsvc: error: {opml}: elements are nested more than 50 deep; nothing imported"


def test_a_line_break_in_an_address_is_refused_and_never_printed_as_a_line(tmp_path, loopback):
    config = web_config(tmp_path / "feeds.toml")
    db = database(tmp_path, config)
    before = feeds_of(db)
    feed = loopback.static("/real.xml", FRESH)
    opml = tmp_path / "forged.opml"
    opml.write_text(
        f'<opml><body><outline text="A&#10;added: Forged" xmlUrl="{feed}&#10;added: Forged &lt;x&gt;: \'x\'"/>'
        f'<outline text="Tab" xmlUrl="{feed}?a=&#9;b"/></body></opml>'
    )
    result = run_cli("feeds", "import", opml, "--db", db, "--config", config)
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and not any(line.startswith("added:") for line in lines), lines
    assert lines[0].startswith("refused: A added: Forged <") and "\\n" in lines[0]
    assert lines[0].endswith(": the address contains control characters (a line break?)")
    assert "\\t" in lines[1] and lines[1].endswith("control characters (a line break?)")
    assert result.exit_code == 1 and feeds_of(db) == before


def test_a_feed_list_over_the_cap_is_refused_whole(tmp_path):
    from botsvc.ingest.opml import MAX_FEEDS

    outlines = "".join(f'<outline xmlUrl="https://a.example/{n}.xml"/>' for n in range(MAX_FEEDS + 1))
    with pytest.raises(OpmlError, match=f"lists {MAX_FEEDS + 1} feeds; at most {MAX_FEEDS} are imported at once"):
        read_opml(f"<opml><body>{outlines}</body></opml>".encode())
    assert len(read_opml(f"<opml><body>{outlines[outlines.index('/>') + 2 :]}</body></opml>".encode())) == MAX_FEEDS
