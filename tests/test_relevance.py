"""Keyword rules: word boundaries for Latin script, substrings for Korean/Japanese."""

from pathlib import Path

import pytest

from botsvc.config import ConfigError, Rule, Topic, load_config, parse_config
from botsvc.judge.relevance import Relevance, TopicMatcher
from botsvc.models import FeedItem

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
    return FeedItem(feed="f", guid=title, link="", title=title, summary=summary, published=None, source="s", body=body)


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


# --- the shipped beat definition (feeds.toml) ------------------------------------------
BEAT = Relevance(load_config(Path(__file__).resolve().parents[1] / "feeds.toml").topics)


def relevant(title, summary=""):
    return bool(BEAT.match(item(title, summary)))


def test_a_latin_term_touching_japanese_or_korean_particles_matches():
    assert TopicMatcher(TOPIC).match("韓国によるGSOMIAの破棄決定") is not None
    assert TopicMatcher(TOPIC).match("정부, GSOMIA를 종료") is not None


def test_a_single_cjk_character_is_refused_as_a_term():
    text = "[topics.t]\n[[topics.t.rules]]\nany = { ja = ['韓'] }\n"
    with pytest.raises(ConfigError, match="single character"):
        parse_config(text)


def test_a_launch_story_mentioning_gsomia_in_passing_is_not_relevant():
    assert not relevant(
        "North Korea fires two short-range missiles into the sea",
        "The launch came two days after South Korea decided to end its GSOMIA intelligence-sharing pact "
        "with Japan, the South Korean military said.",
    )
    assert not relevant("북한, 동해상으로 탄도미사일 발사", "합참은 일본과 지소미아에 따라 정보를 공유했다고 밝혔다.")


def test_a_story_about_gsomia_triggered_by_a_launch_is_relevant():
    assert relevant(
        "Seoul and Tokyo swap missile data under GSOMIA after North Korean launch",
        "South Korea and Japan exchanged military information under the intelligence pact.",
    )


@pytest.mark.parametrize(
    "title,summary",
    [
        (
            "Japan protests South Korean drills near Takeshima",
            "Tokyo demanded Seoul halt the exercise near the islets.",
        ),
        ("韓国軍の竹島防衛訓練に日本政府が抗議", ""),
        ("일본, 독도 방어훈련에 항의", "일본 정부는 한국 해군의 훈련 중단을 요구했다."),
        ("Japan says South Korean warship locked fire-control radar on patrol plane", ""),
        ("South Korea summons Japanese envoy over Fukushima treated water release", ""),
        ("Japan, South Korea leaders agree to resume shuttle diplomacy", ""),
        (
            "South Korea drops Japan from its list of preferred trade partners",
            "Seoul will remove Japan from its white list of trusted trade partners in a tit-for-tat move.",
        ),
        ("日 정부, 반도체 소재 한국 수출 규제 공식화", "일본 경제산업성은 한국 수출관리 운용을 바꾼다고 밝혔다."),
        ("NO재팬 100일, 일본 맥주 수입 급감", ""),
        ("Seoul protests Japan's bid to list Sado mine as World Heritage", "South Korea objected to Japan's plan."),
    ],
)
def test_the_default_topic_covers_the_whole_beat(title, summary):
    assert relevant(title, summary)


@pytest.mark.parametrize(
    "title,summary",
    [
        ("中国、半導体材料のガリウム輸出管理を強化へ", "中国商務省は日本の製造装置輸出管理の強化に対抗する。"),
        ("미, 반도체장비 대중 수출 통제... 삼성·SK도 영향", "미국이 중국에 반도체 장비 수출을 통제한다."),
        ("Japan beats South Korea 13-4 in World Baseball Classic", "Japan won its second game at Tokyo Dome."),
        ("Japan protests to China over ships near the Senkaku Islands", "Tokyo lodged a protest with Beijing."),
    ],
)
def test_neighbouring_stories_stay_out(title, summary):
    assert not relevant(title, summary)


def test_a_longer_term_ending_at_a_word_edge_does_not_hide_a_shorter_one():
    from botsvc.judge.terms import TermSet, fold

    terms = TermSet({"Japan", "Japan's", "South Korea", "South Korea-Japan", "japanese", "Japanese beer"})
    assert terms.found(fold("Japan's move")) == {"Japan", "Japan's"}
    assert terms.found(fold("South Korea-Japan talks")) == {"South Korea", "South Korea-Japan", "Japan"}
    assert terms.found(fold("Japanese beer")) == {"japanese", "Japanese beer"}
