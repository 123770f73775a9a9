"""The fast paths of URL, text, markup and date normalisation against the code they stand in for.

canonical_url, clean_text and strip_html are compared with their earlier versions (kept in
tests/normalise_reference.py), the fast reader's URL join and date parser with
feedparser's own functions: every input, the plain ones each fast path takes and the
odd ones it must hand on, gives the same result.
"""

import re
import sys

from feedparser.datetimes import _parse_date
from feedparser.urls import _urljoin
from hypothesis import example, given, settings
from hypothesis import strategies as st
from normalise_reference import canonical_url as reference_canonical_url
from normalise_reference import clean_text as reference_clean_text
from normalise_reference import normalise_title as reference_normalise_title
from normalise_reference import strip_html as reference_strip_html

from botsvc.ingest.controls import remove_controls
from botsvc.ingest.fastparse import _date, _join
from botsvc.ingest.normalise import canonical_url, clean_text, normalise_title, strip_html

# Pieces URLs are made of, the awkward ones included, so that random joins reach every branch.
URL_PIECES = [
    "http", "https", "HTTPS", "ftp", "://", ":", "/", "//", "?", "#", "&", "=", ";", "%", "%2f", "%41", "+", " ",
    "\t", "\n", "\x00", "@", "[", "]", "~", ".", "-", "_", ",", "example.com", "EXAMPLE.com", "xn--bcher-kva",
    "bücher", "ｅxample", ":80", ":443", ":8080", ":0", ":99999", ":x", "utm_source", "UTM_Medium", "fbclid",
    "id", "a", "b", "1", "&amp;", "'", '"', "<", "\\", "\u3000", "한국",
]  # fmt: skip
urls = st.lists(st.sampled_from(URL_PIECES), max_size=14).map("".join)
plain_urls = st.builds(
    lambda scheme, host, path, query, fragment: f"{scheme}://{host}{path}{query}{fragment}",
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["example.com", "News.Example.ORG", "a-b.c", "x", "1.2.3.4", "example.com:8080", "u@h.com"]),
    st.lists(st.sampled_from(["/", "a", "B", ",", "77,000", "-", "~", "%20", ";", "!", "'", "(", ")", "*", ":", "@"]))
    .map("".join)
    .map(lambda p: "/" + p if p else ""),
    st.lists(
        st.sampled_from(["utm_source", "id", "ID", "=", "&", "x", "5", "_ga", "pk_x", "", ".", "~", "-", "+", "%2F"])
    )
    .map("".join)
    .map(lambda q: "?" + q if q else ""),
    st.sampled_from(["", "#", "#top", "#a b\n", "#?x=1"]),
)


EDGE_URLS = [
    "https://a.com/x?a=b=c",
    "https://a.com/x?",
    "https://a.com/x;",
    "https://a.com/x;p?q",
    "https://a.com/x?a&&b",
]
EDGE_URLS += ["https://a.com/x?a", "https://a.com?=", "https://A.com:443/x#", "http://a.com:80", "https://a.com/x?%41"]


@settings(max_examples=600, deadline=None)
@given(st.one_of(urls, plain_urls, st.text(max_size=40), st.sampled_from(EDGE_URLS)))
@example("https://a.com/x?a=b=c&id=1")
def test_canonical_url_is_what_it_was(url):
    assert canonical_url(url) == reference_canonical_url(url)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(urls, plain_urls, st.sampled_from(EDGE_URLS)),
    st.sampled_from(["", "https://news.example.org/feed.xml", "http://x.org/a/b"]),
)
@example("https://a.com/x?", "https://news.example.org/feed.xml")
@example("https://a.com/x;", "https://news.example.org/feed.xml")
def test_the_url_join_is_feedparsers(uri, base):
    assert _join(base, uri) == _urljoin(base, uri)


def test_common_links_take_the_fast_paths():
    link = "https://Outlet.example.org/news/2026/05/01/recalls-77,000?utm_source=rss&id=5&utm_medium=feed#more"
    assert canonical_url(link) == "https://outlet.example.org/news/2026/05/01/recalls-77,000?id=5"
    assert canonical_url(link) == reference_canonical_url(link)
    assert _join("https://x.org/", link.split("#")[0]) == link.split("#")[0]


TEXT_PIECES = [
    " ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x85",
    "\xa0",
    "\u3000",
    "\u2028",
    "\x00",
    "\x7f",
]
TEXT_PIECES += ["\u200b", "\u200e", "\ufeff", "\ud800", "\U000e0001", "\U0001f600", "a", "한", "…", "&", "<b>"]


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(TEXT_PIECES), max_size=12).map("".join)))
def test_clean_text_is_what_it_was(text):
    assert clean_text(text) == reference_clean_text(text)


def test_clean_text_fast_path_holds_for_every_character():
    """The fast path's claim, checked for each code point: a character it lets through
    unexamined (printable, or whitespace that is not a control) is one remove_controls
    keeps, and str.split() and the \\s pattern agree on whitespace."""
    everything = [chr(code) for code in range(sys.maxunicode + 1)]
    passed = "".join(
        c for c in everything if (c.isprintable() or c.isspace()) and c not in "\x0b\x0c\r\x1c\x1d\x1e\x1f\x85"
    )
    assert remove_controls(passed) == passed
    assert [c for c in everything if c.isspace()] == [c for c in everything if re.fullmatch(r"\s", c)]


DATE_PIECES = ["Mon", "Fri", "Sun", "Xyz", ", ", " ", "01", "1", "29", "31", "00", "May", "Feb", "Dec", "may"]
DATE_PIECES += ["2026", "1999", "0001", "9999", "26", "12:00:00", "23:59:60", "24:00:00", "GMT", "+0000", "-0930"]
DATE_PIECES += ["+9999", "UT", "Z", "EST", "T", "-"]
rfc822 = st.builds(
    lambda day, d, m, y, hms, zone: f"{day}, {d} {m} {y} {hms} {zone}",
    st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    st.sampled_from(["00", "01", "09", "28", "29", "30", "31", "32"]),
    st.sampled_from(["Jan", "Feb", "Apr", "May", "Dec"]),
    st.sampled_from(["0001", "1899", "1970", "2000", "2024", "2026", "2100", "9999"]),
    st.sampled_from(["00:00:00", "12:30:45", "23:59:59", "23:59:60", "24:00:00", "99:99:99"]),
    st.sampled_from(["GMT", "+0000", "-0000", "+0900", "-0500", "+0530", "+9999", "-9999", "+1260"]),
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(rfc822, st.lists(st.sampled_from(DATE_PIECES), max_size=10).map("".join), st.text(max_size=30)))
def test_the_date_parser_is_feedparsers(text):
    assert _date(text) == _parse_date(text)


MARKUP_PIECES = [
    "<p>",
    "</P>",
    "<br/>",
    "<em>",
    "</em>",
    "<a href='x>y'>",
    '<img alt="<p>">',
    "<div class=a>",
    "</div>",
]
MARKUP_PIECES += ["<script>", "</script>", "<style>p{}</style>", "<!-- <p> -->", "<!--", "<![CDATA[<p>]]>", "<!x>"]
MARKUP_PIECES += ["<?pi?>", "<", ">", "'", '"', "/", "text", " ", "\n", "&amp;", "&lt;p&gt;", "&#8230;", "한국", "<LI>"]


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(MARKUP_PIECES), max_size=16).map("".join), st.text(max_size=40)))
def test_strip_html_is_what_it_was(markup):
    assert strip_html(markup) == reference_strip_html(markup)


def test_local_names_are_lxmls():
    from lxml import etree

    from botsvc.ingest.fastparse import _local

    root = etree.fromstring(b'<r xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:Title/><TITLE/><x xmlns="urn:a"/></r>')
    for child in root:
        assert _local(child) == etree.QName(child).localname.lower()


TITLE_PIECES = ["Seoul", "TOKYO", "gsomia", "-", "'", "\u2019", "_", ":", " ", "  ", "\t", "\n", "\x1f", "\x00", "\x7f"]
TITLE_PIECES += ["(", ")", "$1.5bn", "U.S.", "\u00a0", "\u3000", "한국", "日本", "Ｓｅｏｕｌ", "ﬁ", "ß", "İ", "K"]


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(TITLE_PIECES), max_size=12).map("".join)))
@example("".join(chr(code) for code in range(128)))
def test_normalise_title_is_what_it_was(title):
    """Seen keys hold normalised titles: the ASCII fast path must give exactly what the regexes gave."""
    assert normalise_title(title) == reference_normalise_title(title)
