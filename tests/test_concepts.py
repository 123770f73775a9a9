"""The concept lexicon: one name per idea of the beat, found in English, Korean and Japanese."""

from pathlib import Path

import pytest

from botsvc.judge.concepts import Lexicon, concept_tokens, default_lexicon, is_cross_language
from botsvc.judge.fingerprint import is_cross_language_hash, make_fingerprint, token_hash


@pytest.mark.parametrize(
    "text",
    [
        "South Korea to scrap GSOMIA intelligence pact with Japan",
        "韓国がGSOMIAの破棄を決定",
        "한국 정부, 지소미아 종료 결정",
    ],
)
def test_one_story_gives_the_same_concepts_in_three_languages(text):
    assert {"gsomia", "terminate", "korea"} <= set(default_lexicon().find(text))


def test_places_people_and_offices_are_concepts():
    found = set(default_lexicon().find("河野外相が竹島周辺での韓国軍の訓練に抗議"))
    assert {"kono", "dokdo", "drills", "protest", "korea"} <= found


def test_concept_and_number_tokens_are_marked_cross_language():
    assert concept_tokens("Dokdo drills") == ["§dokdo", "§drills"]
    assert is_cross_language("§dokdo") and is_cross_language("2019") and not is_cross_language("dokdo")
    assert is_cross_language_hash(token_hash("§dokdo")) and not is_cross_language_hash(token_hash("dokdo"))
    fp = make_fingerprint("독도 방어훈련", "일본 정부가 항의했다")
    assert token_hash("§dokdo") in fp.hashes and token_hash("§protest") in fp.hashes


def test_a_boycott_is_a_long_running_story():
    assert default_lexicon().long_spans()["§boycott"] >= 90


def test_a_lexicon_refuses_single_characters_and_unknown_keys(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[japan]\nja = ['日']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="single characters"):
        Lexicon.load(bad)
    bad.write_text("[japan]\nfr = ['Japon']\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown key"):
        Lexicon.load(bad)


@pytest.mark.parametrize(
    ("texts", "kinds"),
    [
        (
            (
                "Defence ministers sign memorandum on a security framework",
                "국방장관, 안보 프레임워크 양해각서 체결",
                "防衛相が安保協力の枠組みで覚書に署名",
            ),
            {"defense-ministers", "memorandum", "framework"},
        ),
        (
            (
                "Leaders pay tribute at memorial to atomic bomb victims",
                "정상, 원폭 희생자 위령비 참배",
                "首脳が原爆犠牲者の慰霊碑に献花",
            ),
            {"memorial", "atomic-bomb", "victims"},
        ),
        (
            (
                "Finance ministers agree to restore currency swap",
                "재무장관, 통화스와프 복원 합의",
                "財務相が通貨スワップ再開で合意",
            ),
            {"finance-ministry", "currency-swap", "agreement"},
        ),
        (
            ("Destroyer makes a port call in Busan", "호위함, 부산 입항", "護衛艦が釜山に入港"),
            {"warship", "port-call", "busan"},
        ),
    ],
)
def test_what_happens_between_the_states_is_one_token_in_every_language(texts, kinds):
    for text in texts:
        assert kinds <= set(default_lexicon().find(text)), text


def test_the_two_states_named_together_are_both_states():
    for text in ("한일 정상회담", "日韓首脳会談", "한미일 안보협력", "Japan-South Korea summit"):
        assert {"japan", "korea"} <= set(default_lexicon().find(text)), text
