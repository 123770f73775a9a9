"""The structural judgement: both states as actors, a relation between them, no third party."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli
from botsvc.config import ConfigError, load_config, parse_config, summarise
from botsvc.judge.relevance import Relevance
from botsvc.judge.structure import default_structure
from botsvc.models import FeedItem

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "feeds.toml")
TOPIC = CONFIG.topic(CONFIG.default_topic)
WITH_STRUCTURE = Relevance([TOPIC])
RULES_ONLY = Relevance([replace(TOPIC, structure=False)])


def item(title: str, summary: str = "") -> FeedItem:
    return FeedItem(feed="f", guid=title, link="", title=title, summary=summary, published=None, source="s")


TRILATERAL = [
    (
        "U.S., Japan and South Korea sign framework for regular defence talks and exercises",
        "The defence ministers of the United States, Japan and South Korea met in Tokyo on Sunday and signed a "
        "memorandum that makes their trilateral security cooperation a standing framework.",
    ),
    (
        "한미일 국방장관, 3국 안보협력체계 협력각서 서명",
        "한국과 미국, 일본 국방장관이 도쿄에서 회담을 열고 3국 안보협력을 제도화하는 협력각서에 서명했다.",
    ),
    (
        "日米韓防衛相が会談、安全保障協力の枠組みで覚書に署名",
        "日本、米国、韓国の防衛相は東京で会談し、3カ国の安全保障協力を制度化する覚書に署名した。",
    ),
]

NORTH_KOREAN_LAUNCHES = [
    (
        "North Korea fires ballistic missile into sea, Seoul and Tokyo say",
        "North Korea fired a ballistic missile off its east coast on Monday, South Korea's military said, and "
        "Japan's defence ministry said it fell outside its exclusive economic zone. Seoul and Tokyo agreed to "
        "keep close cooperation.",
    ),
    (
        "북한, 동해상으로 탄도미사일 발사",
        "북한이 동해상으로 탄도미사일을 발사했다고 합동참모본부가 밝혔다. 일본 방위성도 발사 사실을 확인했으며 "
        "한일 양국은 긴밀히 협력하기로 했다.",
    ),
    (
        "北朝鮮が弾道ミサイル発射 韓国軍が発表",
        "北朝鮮が日本海に向けて弾道ミサイルを発射したと韓国軍が発表した。日本の防衛省も発射を確認し、日韓両国は"
        "緊密に連携するとした。",
    ),
]

# Stories no rule term describes: the finance ministers restoring their currency swap.
STRUCTURE_ONLY = [
    (
        "Finance chiefs of Tokyo and Seoul agree to restore $10 billion swap line",
        "Japan's finance minister and his South Korean counterpart agreed at their first talks in seven years to "
        "restore a currency swap arrangement that lapsed in 2015.",
    ),
    (
        "한일 재무장관 회의…100억 달러 통화스와프 복원 합의",
        "한국과 일본 재무장관이 7년 만에 도쿄에서 회의를 열고 2015년 중단된 통화스와프를 복원하기로 합의했다.",
    ),
    (
        "日韓財務相会談、通貨スワップ再開で合意",
        "日本と韓国の財務相は7年ぶりに東京で会談し、2015年に終了した通貨スワップの再開で合意した。",
    ),
]


@pytest.mark.parametrize("title,lead", TRILATERAL, ids=["en", "ko", "ja"])
def test_a_trilateral_security_story_is_relevant_in_each_language(title, lead):
    assert WITH_STRUCTURE.match(item(title, lead))


@pytest.mark.parametrize("title,lead", NORTH_KOREAN_LAUNCHES, ids=["en", "ko", "ja"])
def test_a_north_korean_launch_naming_both_states_is_not_relevant(title, lead):
    assert not WITH_STRUCTURE.match(item(title, lead))
    assert default_structure().third_party(title)


@pytest.mark.parametrize("title,lead", STRUCTURE_ONLY, ids=["en", "ko", "ja"])
def test_a_story_only_the_structure_keeps_says_so_with_its_actors_and_relation(title, lead):
    assert not RULES_ONLY.match(item(title, lead))
    [match] = WITH_STRUCTURE.match(item(title, lead))
    assert match.judgement == "structure" and match.structure is not None
    actors = dict(match.structure.actors)
    assert set(actors) == {"japan", "korea"} and all(actors.values()) and match.structure.relations
    record = match.record()
    assert record["judgement"] == "structure" and record["actors"]["japan"] and record["relations"]
    assert match.describe().startswith("structure: actors japan (")


def test_the_rules_decide_first():
    [match] = WITH_STRUCTURE.match(item("Seoul decides to end GSOMIA with Tokyo", "Japan protested."))
    assert match.judgement == "rules" and match.record() == {"judgement": "rules", "keywords": list(match.keywords)}
    # The states' names the structure adds to the rules' pass must not hide a rule's own terms.
    story = item("Japan's export controls hit South Korean chipmakers", "Seoul called it retaliation.")
    assert [m.judgement for m in WITH_STRUCTURE.match(story)] == ["rules"]


@pytest.mark.parametrize(
    "title,lead",
    [
        # Another state's story: Japan and China, a lead that mentions Seoul.
        ("Japan and China leaders hold summit in Lima", "Tokyo and Beijing agreed to talks; South Korea watched."),
        ("중·일 정상회담 개최…한국 정부 주시", "일본과 중국 정상이 회담을 열었다. 한국 외교부는 결과를 주시하고 있다."),
        # One state and a partner: a US tariff letter to Japan.
        ("Trump sends Japan a 25% tariff letter", "Tokyo said talks would go on; South Korea got a letter too."),
        # One state's own election.
        ("자민당 총재 선거 결과 발표", "일본 집권 자민당이 새 총재를 뽑았다. 한일 관계 개선 흐름이 이어질지 주목된다."),
        # Both states, but no relation between them.
        ("Japanese and South Korean stocks close higher", "Tokyo and Seoul shares rose on chip demand."),
    ],
)
def test_third_party_stories_and_stories_without_a_relation_stay_out(title, lead):
    assert default_structure().judge(title, lead) is None


def test_korea_inside_north_korea_does_not_name_south_korea():
    lead = "Japan protested after North Korea's envoy met North Korean officials in talks."
    assert default_structure().judge("Japan lodges protest over envoy talks", lead) is None
    assert default_structure().judge("Japan lodges protest over envoy talks", lead + " Korea was briefed.")


def test_a_topic_turns_the_structure_on_or_off():
    text = "\n[topics.t]\ntitle = 'T'\n{}\n[[topics.t.rules]]\nany = ['GSOMIA']\n"
    assert parse_config(text.format("structure = true")).topics[0].structure is True
    assert "keyword(s), then its structure" in summarise(parse_config(text.format("structure = true")))
    assert parse_config(text.format("")).topics[0].structure is False
    with pytest.raises(ConfigError, match="topics.t.structure: expected"):
        parse_config(text.format("structure = 'yes'"))
    title, lead = STRUCTURE_ONLY[0]
    assert not Relevance(parse_config(text.format("structure = false")).topics).match(item(title, lead))
    assert Relevance(parse_config(text.format("structure = true")).topics).match(item(title, lead))


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Desk</title><link>https://desk.example.org/</link>
<item><title>{title}</title><link>https://desk.example.org/swap</link><guid>https://desk.example.org/swap</guid>
<pubDate>Thu, 29 Jun 2023 12:00:00 +0900</pubDate><description>{lead}</description></item>
</channel></rss>
"""


def test_poll_json_and_explain_say_the_structure_decided(tmp_path):
    title, lead = STRUCTURE_ONLY[0]
    (tmp_path / "desk.xml").write_text(FEED.format(title=title, lead=lead), encoding="utf-8")
    shipped = (ROOT / "examples" / "feeds.toml").read_text(encoding="utf-8")
    topics = shipped[shipped.index("[topics.japan-korea]") :]
    config = tmp_path / "feeds.toml"
    config.write_text(
        '[defaults]\ntopic = "japan-korea"\n[alerts]\nbackfill_max_age = "off"\n'
        '[[feeds]]\nname = "Desk"\nurl = "desk.xml"\n' + topics,
        encoding="utf-8",
    )
    db = str(tmp_path / "bot.db")
    result = CliRunner().invoke(cli, ["poll", "--once", "--json", "--db", db, "--config", str(config)])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert row["decision"] == "new" and row["relevance"]["judgement"] == "structure"
    assert "Tokyo" in row["relevance"]["actors"]["japan"] and row["relevance"]["relations"]
    assert row["reason"].startswith("structure: actors japan (")

    out = CliRunner().invoke(cli, ["explain", "https://desk.example.org/swap", "--db", db]).stdout
    assert "relevance: decided by the structure: actors japan (" in out and "korea (" in out
