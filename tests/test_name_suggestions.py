"""Mining new names and their other spellings from cross-language events (pure, no database)."""

from __future__ import annotations

import tomllib

from botsvc.judge.concepts import bundled_lexicon
from botsvc.judge.local_concepts import render
from botsvc.judge.name_suggestions import Report, concept_name, script_language, suggest


def story(event_id: int, english: str, korean: str) -> list[Report]:
    return [Report(event_id, "en", english), Report(event_id, "ko", korean)]


def test_a_name_and_its_korean_spelling_are_linked_past_particles_and_common_words():
    reports = [
        *story(1, "South Korea's Foreign Minister Seo Ji-hwan met Kishida.", "서지환 장관은 기시다 총리를 만났다"),
        *story(2, "Seo Ji-hwan's remarks on Dokdo angered Tokyo.", "서지환 장관의 독도 발언"),
        *story(3, "Japan protests as Seo Ji-hwan visits Dokdo.", "서지환이 독도를 방문하자 일본이 항의"),
        # The word for "minister" recurs in stories without him, so it is no spelling of his name.
        *story(4, "Kishida names a new trade envoy.", "기시다 총리, 통상 장관 교체"),
        *story(5, "Tokyo and Seoul hold vice-ministerial talks.", "한일 차관 회담, 장관 방일 논의"),
    ]
    found = suggest(reports, bundled_lexicon(), min_events=2)
    assert [s.name for s in found] == ["Seo Ji-hwan"]  # Kishida, Dokdo, Tokyo are known concepts
    (link,) = found[0].links
    assert (link.language, link.spelling, link.joint) == ("ko", "서지환", 3)
    assert link.strength == 1.0


def test_a_name_in_one_event_only_is_not_suggested_by_default():
    reports = story(1, "Seo Ji-hwan visits Tokyo.", "서지환 장관 방일")
    assert suggest(reports, bundled_lexicon()) == []
    assert [s.name for s in suggest(reports, bundled_lexicon(), min_events=1)] == ["Seo Ji-hwan"]


def test_languages_come_from_the_script_and_names_from_the_english_spelling():
    assert script_language("서지환 장관", "en") == "ko"
    assert script_language("ソ・ジファン外相が来日", None) == "ja"
    assert script_language("岩屋外相", "ja") == "ja"
    assert script_language("Seo Ji-hwan", "ko") == "en"
    assert concept_name("Seo Ji-hwan") == "seo-ji-hwan"


def test_the_local_file_is_written_as_toml_that_reads_back():
    tables = {
        "seo-ji-hwan": {"en": ['Seo "Ji-hwan"'], "ko": ["서지환"], "span_days": 30.0},
        "Odd Name": {"en": ["x y"]},
    }
    assert tomllib.loads(render(tables)) == tables


def test_a_japanese_spelling_is_cut_from_the_title_written_against_it():
    reports = [
        *story(1, "Seo Ji-hwan protests over Dokdo.", "서지환 장관, 독도 항의"),
        *story(2, "Seo Ji-hwan urges an end to export controls.", "서지환 장관, 수출규제 철회 촉구"),
        Report(1, "ja", "徐志煥外相が竹島問題で抗議"),
        Report(2, "ja", "徐志煥外相、輸出規制の撤回求める"),
        Report(3, "ja", "林外相が会見"),
    ]
    (found,) = suggest(reports, bundled_lexicon(), min_events=2)
    spellings = {link.language: link.spelling for link in found.links}
    assert spellings == {"ko": "서지환", "ja": "徐志煥"}


def test_a_name_always_written_with_the_same_particle_is_suggested_without_it():
    reports = [
        *story(1, "Seo Ji-hwan protests over Dokdo.", "서지환은 독도 문제로 항의했다"),
        *story(2, "Seo Ji-hwan urges an end to export controls.", "서지환은 수출규제 철회를 촉구했다"),
        *story(3, "Kurogane Ren meets Seo Ji-hwan.", "구로가네는 서지환은 만났다"),
        *story(4, "Kurogane Ren visits Seoul.", "구로가네는 서울을 찾았다"),
    ]
    found = {s.name: {link.language: link.spelling for link in s.links} for s in suggest(reports, bundled_lexicon())}
    assert found["Seo Ji-hwan"] == {"ko": "서지환"}
    assert found["Kurogane Ren"] == {"ko": "구로가네"}
