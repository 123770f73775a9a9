"""The seeded article set: package data, manifest and the pure loader."""

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from botsvc.store.seed_data import (
    SEED_EVENT_TITLE,
    SeedArticle,
    clean_body,
    default_seed_dir,
    load_seed_articles,
    normalise_line,
)

SEED_DIR = default_seed_dir()
SHARED_SEED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "seed-articles"
RAW_FILES = sorted(path.name for path in SEED_DIR.glob("*.txt"))

EARLIEST = datetime(2019, 8, 22, 0, 0, tzinfo=timezone.utc)
LATEST = datetime(2019, 8, 23, 23, 59, tzinfo=timezone.utc)

# Lines of site furniture, captions and misleading dates seen in the raw files; none may reach a body.
BOILERPLATE = [
    "Image credit",
    "Jung Yeon-je/AFP/Getty Images",
    "Subscribe to The Week",
    "SUBSCRIBE & SAVE",
    "futurecdn.net",
    "Sign up for The Week's Free Newsletters",
    "Peter has worked as a news",
    "UNITED24",
    "Weapons of Mass Destruction (WMD)",
    "NEWSLETTER",
    "Join the GlobalSecurity.org mailing list",
    "Action.News",
    "Home WebMail",
    "Updated: 18th February 2020",
    "Social Sharing",
    "The cancellation signals the lowest point in relations between the 2 countries",
    "Eugene Hoshiko/The Associated Press",
    "Tomohiro Ohsumi/Getty Images",
    "about to deliver a speech on August 15",
    "Articled from the CBC RSS Syndication",
    "Copyright 2014 WestNet-HD",
    "Email this story to a Friend!",
    "Friend Email Address",
    "date 2019-08-06",
    "Flags of South Korea, Japan",
    "Watch video",
    "Solution sought in South Korea-Japan trade spat",
    "South Korea demands apology from Japan for wartime past",
    "cw/ng",
    "News ID:",
    "Published: 0141 GMT",
    "Tokyo: Seoul ending deal damages trust",
    "Security Key",
    "Captcha refresh",
    "Page Generated",
    "\u00a0",
]


@pytest.fixture(scope="module")
def articles() -> list[SeedArticle]:
    return load_seed_articles()


def raw_text(name: str) -> str:
    return (SEED_DIR / name).read_text(encoding="utf-8")


def test_five_articles_load_one_per_raw_file(articles):
    assert len(RAW_FILES) == 5
    assert len(articles) == 5
    assert sorted(article.file for article in articles) == RAW_FILES
    assert all(isinstance(article, SeedArticle) for article in articles)


def test_keys_are_stable_and_unique(articles):
    assert [article.key for article in articles] == ["seed:" + Path(article.file).stem for article in articles]
    assert "seed:000_13db4fe19147060b" in {article.key for article in articles}
    assert len({article.key for article in articles}) == 5


def test_published_dates_are_utc_within_the_event_window(articles):
    for article in articles:
        assert article.published.tzinfo is not None
        assert article.published.utcoffset().total_seconds() == 0
        assert EARLIEST <= article.published <= LATEST, (article.file, article.published)


def test_articles_are_sorted_by_publication_time(articles):
    assert [article.published for article in articles] == sorted(article.published for article in articles)


def test_explicit_publication_time_is_used():
    by_file = {article.file: article for article in load_seed_articles()}
    assert by_file["004_f97104a8e00180fb.txt"].published == datetime(2019, 8, 23, 1, 41, tzinfo=timezone.utc)
    # The DW page opens with a misleading "date 2019-08-06"; its title carries the real date.
    assert by_file["003_1951d68d516cb100.txt"].published.date().isoformat() == "2019-08-22"
    # The aggregator's "Updated: 18th February 2020" is not the publication date.
    assert by_file["002_b8be09240802db19.txt"].published.year == 2019


def test_titles_and_leads_appear_verbatim_in_their_raw_files(articles):
    for article in articles:
        text = raw_text(article.file)
        assert article.title in text, article.file
        assert article.lead in text, article.file
        # the headline is a line of its own in the raw page
        assert article.title in [line.strip() for line in text.splitlines()], article.file


def test_body_starts_with_the_lead_paragraph(articles):
    for article in articles:
        assert article.body.split("\n\n")[0] == normalise_line(article.lead), article.file


def test_bodies_carry_no_boilerplate(articles):
    for article in articles:
        for fragment in BOILERPLATE:
            assert fragment not in article.body, (article.file, fragment)


def test_bodies_are_whitespace_normalised(articles):
    for article in articles:
        paragraphs = article.body.split("\n\n")
        assert all(paragraph == normalise_line(paragraph) and paragraph for paragraph in paragraphs)
        assert len(paragraphs) >= 3, article.file


def test_outlets_and_urls(articles):
    outlets = {article.file: article.outlet for article in articles}
    assert outlets == {
        "000_13db4fe19147060b.txt": "The Week",
        "001_7c9c70dc4c1558a7.txt": "NHK World via GlobalSecurity.org",
        "002_b8be09240802db19.txt": "CBC News/AP via Action.News",
        "003_1951d68d516cb100.txt": "DW",
        "004_f97104a8e00180fb.txt": "Iran Daily/AFP",
    }
    for article in articles:
        assert article.url is None or article.url.startswith(("http://", "https://"))


def test_manifest_lists_exactly_the_raw_files_with_notes():
    entries = json.loads((SEED_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    assert sorted(entry["file"] for entry in entries) == RAW_FILES
    for entry in entries:
        assert entry["date_note"].strip()
        if not entry["published"].endswith("T12:00:00Z"):
            continue
        assert "placeholder" in entry["date_note"]


def test_seed_event_title():
    assert SEED_EVENT_TITLE == "South Korea ends GSOMIA intelligence-sharing pact with Japan (Aug 2019)"


@pytest.mark.skipif(not SHARED_SEED_DIR.is_dir(), reason="shared seed-articles directory not present")
def test_package_copies_are_byte_identical_to_the_shared_set():
    shared = sorted(path.name for path in SHARED_SEED_DIR.glob("*.txt"))
    assert shared == RAW_FILES
    for name in shared:
        assert (SEED_DIR / name).read_bytes() == (SHARED_SEED_DIR / name).read_bytes(), name


# --- generic boilerplate rules ------------------------------------------------------------


def test_clean_body_drops_widgets_videos_credits_urls_and_fragments():
    raw = "\n".join(
        [
            "First  paragraph\u00a0of the story.",
            "",
            "Social Sharing",
            "Watch video 01:46",
            "",
            "Some video title that is longer than six words here",
            "A caption of a photo. (Jane Doe/The Associated Press)",
            "(Image credit: Someone/AFP/Getty Images)",
            "https://cdn.example.com/banner.jpg",
            "Flags of two countries",
            "Second paragraph without a final stop but long enough to be kept as text",
            "Third paragraph.",
        ]
    )
    assert clean_body(raw) == (
        "First paragraph of the story.\n\n"
        "Second paragraph without a final stop but long enough to be kept as text\n\n"
        "Third paragraph."
    )


def test_clean_body_keeps_short_sentences():
    assert clean_body('He said "no."\nJapan denies it.') == 'He said "no."\n\nJapan denies it.'


# --- manifest consistency errors ----------------------------------------------------------


@pytest.fixture()
def seed_copy(tmp_path: Path) -> Path:
    target = tmp_path / "seed"
    shutil.copytree(SEED_DIR, target)
    return target


def rewrite_manifest(directory: Path, change) -> None:
    path = directory / "manifest.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    change(entries)
    path.write_text(json.dumps(entries), encoding="utf-8")


def test_loader_accepts_an_explicit_directory(seed_copy):
    assert [article.key for article in load_seed_articles(seed_copy)] == [
        article.key for article in load_seed_articles()
    ]


def test_missing_file_is_reported(seed_copy):
    (seed_copy / "003_1951d68d516cb100.txt").unlink()
    with pytest.raises(ValueError, match="003_1951d68d516cb100.txt"):
        load_seed_articles(seed_copy)


def test_missing_manifest_is_reported(tmp_path):
    with pytest.raises(ValueError, match="manifest"):
        load_seed_articles(tmp_path)


def test_unknown_body_start_marker_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[0].update(body_start="no such text anywhere"))
    with pytest.raises(ValueError, match="body_start marker .* not found"):
        load_seed_articles(seed_copy)


def test_ambiguous_body_start_marker_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[1].update(body_start="South Korea"))
    with pytest.raises(ValueError, match="occurs .* times"):
        load_seed_articles(seed_copy)


def test_unknown_body_end_marker_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[2].update(body_end="no such ending"))
    with pytest.raises(ValueError, match="body_end marker"):
        load_seed_articles(seed_copy)


def test_title_not_in_file_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[3].update(title="A reworded headline"))
    with pytest.raises(ValueError, match="title .* verbatim"):
        load_seed_articles(seed_copy)


def test_missing_field_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[4].pop("lead"))
    with pytest.raises(ValueError, match="lacks lead"):
        load_seed_articles(seed_copy)


def test_date_without_offset_is_reported(seed_copy):
    rewrite_manifest(seed_copy, lambda entries: entries[0].update(published="2019-08-23T12:00:00"))
    with pytest.raises(ValueError, match="no UTC offset"):
        load_seed_articles(seed_copy)
