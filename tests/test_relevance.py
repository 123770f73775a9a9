"""Keyword rules: word boundaries for Latin script, substrings for Korean/Japanese."""

from botsvc.config import Rule, Topic
from botsvc.models import FeedItem
from botsvc.relevance import Relevance, TopicMatcher

TOPIC = Topic(
    name="jk",
    title="Japan–Korea",
    rules=(
        Rule(any=("GSOMIA", "지소미아", "軍事情報包括保護協定")),
        Rule(
            any=("boycott", "boycotts", "intelligence-sharing"),
            all=(("Japan", "Japanese", "Tokyo"), ("South Korea", "Seoul", "Korean")),
            none=("North Korea",),
        ),
    ),
)


def item(title, summary="", body=""):
    return FeedItem(feed="f", guid=title, link="", title=title, summary=summary, published=None,
                    source="s", body=body)


def test_any_term_case_insensitive():
    match = TopicMatcher(TOPIC).match("Seoul quits gsomia")
    assert match is not None and match.keywords == ("GSOMIA",)


def test_word_boundary_for_latin_terms():
    assert TopicMatcher(TOPIC).match("GSOMIAX is a made-up word") is None
    assert TopicMatcher(TOPIC).match("boycotting Japanese beer in Seoul") is None  # only listed inflections


def test_all_groups_must_each_match():
    matcher = TopicMatcher(TOPIC)
    assert matcher.match("Consumers boycott Japanese beer") is None
    match = matcher.match("Korean consumers boycott Japanese beer")
    assert match is not None and set(match.keywords) == {"boycott", "Japanese", "Korean"}


def test_none_terms_veto_the_rule():
    assert TopicMatcher(TOPIC).match("Japan and South Korea watch North Korea boycott talks") is None


def test_spaces_and_hyphens_are_interchangeable():
    match = TopicMatcher(TOPIC).match("Tokyo and Seoul end intelligence sharing")
    assert match is not None and "intelligence-sharing" in match.keywords


def test_curly_apostrophes_and_possessives():
    assert TopicMatcher(TOPIC).match("Japan’s boycott row with Seoul’s retailers") is not None


def test_korean_and_japanese_terms_match_as_substrings():
    assert TopicMatcher(TOPIC).match("정부, 지소미아를 종료") is not None
    assert TopicMatcher(TOPIC).match("韓国が軍事情報包括保護協定の破棄を決定") is not None


def test_relevance_reports_topics_and_respects_feed_topic_list():
    relevance = Relevance([TOPIC])
    hits = relevance.match(item("Seoul ends GSOMIA"))
    assert [m.topic for m in hits] == ["jk"]
    assert relevance.match(item("Seoul ends GSOMIA"), topics=("other",)) == []


def test_summary_and_body_are_searched():
    relevance = Relevance([TOPIC])
    assert relevance.match(item("Pact ends", summary="The GSOMIA lapses")) != []
    assert relevance.match(item("Pact ends", body="... GSOMIA ...")) != []
