"""New names without a release: ``botsvc concepts suggest`` finds a name the lexicon lacks and
its Korean spelling in the archive's cross-language events; ``botsvc concepts add`` writes it
to ``concepts.local.toml`` beside the configuration, after which a Korean report that shares
little but that name with an English report folds into its event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli
from botsvc.judge.concepts import bundled_lexicon, default_lexicon, use_lexicon

ROOT = Path(__file__).resolve().parents[1]
#: Other stories of the beat, so that words and concepts weigh by their rarity as in a real archive.
BACKGROUND = sorted((ROOT / "examples" / "feeds").glob("*.xml"))
TOPIC = (ROOT / "examples" / "feeds.toml").read_text(encoding="utf-8").split("[topics.japan-korea]", 1)[1]

#: Three stories of a (made-up) new foreign minister, each reported in English and in Korean;
#: the reports of one story share concepts the lexicon knows (Dokdo, export controls, GSOMIA).
STORIES = [
    (
        "2026-11-02T09:00:00Z",
        "Foreign Minister Seo Ji-hwan protests Japan's Dokdo claim in 2027 defence white paper",
        "South Korea's Foreign Minister Seo Ji-hwan summoned Japan's ambassador over the Dokdo claim.",
        "서지환 외교부 장관, 일본 방위백서 독도 영유권 주장에 항의",
        "서지환 장관은 일본 대사를 불러 2027 방위백서의 독도 영유권 주장에 항의했다.",
    ),
    (
        "2026-11-09T09:00:00Z",
        "Seo Ji-hwan urges Japan to lift export controls on hydrogen fluoride",
        "South Korea's top diplomat Seo Ji-hwan said Japan's export controls on hydrogen fluoride must end.",
        "서지환 장관, 일본에 불화수소 수출규제 철회 촉구",
        "서지환 외교부 장관은 일본의 불화수소 수출규제가 끝나야 한다고 말했다.",
    ),
    (
        "2026-11-16T09:00:00Z",
        "Seo Ji-hwan says South Korea will keep GSOMIA intelligence pact with Japan",
        "Foreign Minister Seo Ji-hwan said Seoul will keep the 2016 GSOMIA pact and intelligence sharing with Japan.",
        '서지환 장관 "지소미아 유지"…일본과 군사정보 공유 계속',
        "서지환 외교부 장관은 한국이 2016년 체결된 일본과의 지소미아를 유지한다고 밝혔다.",
    ),
]
#: A fourth story: besides what every report says, its reports share the minister's name and
#: one other concept (Iwaya), which alone is too little to fold them across languages.
LATER_EN = (
    "2026-11-23T09:00:00Z",
    "Seo Ji-hwan visits Tokyo, calls for trust in talks with Iwaya",
    "On his visit to Tokyo, Seo Ji-hwan told Takeshi Iwaya that South Korea and Japan need trust.",
)
LATER_KO = (
    "2026-11-23T11:00:00Z",
    '서지환 장관, 도쿄서 이와야와 회담…"한일 신뢰 필요"',
    "서지환 장관은 도쿄에서 이와야를 만나 한국과 일본 사이의 신뢰가 필요하다고 말했다.",
)


def rss(items: list[tuple[str, str, str, str]]) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    body = "".join(
        f"<item><guid>{guid}</guid><link>https://news.example/{guid}</link><title>{title}</title>"
        f"<description>{summary}</description>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(when.replace('Z', '+00:00')))}</pubDate></item>"
        for guid, when, title, summary in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'


@pytest.fixture(autouse=True)
def shipped_lexicon() -> Iterator[None]:
    """Each CLI call installs the deployment's lexicon; leave the shipped one for other tests."""
    yield
    use_lexicon(None)


def deployment(tmp_path: Path, *, later_korean: bool = False) -> tuple[str, str]:
    english = [(f"en-{n}", when, title, summary) for n, (when, title, summary, _, _) in enumerate(STORIES)]
    english.append(("en-later", *LATER_EN))
    korean = [(f"ko-{n}", when, title, summary) for n, (when, _, _, title, summary) in enumerate(STORIES)]
    if later_korean:
        korean.append(("ko-later", *LATER_KO))
    (tmp_path / "en.xml").write_text(rss(english), encoding="utf-8")
    (tmp_path / "ko.xml").write_text(rss(korean), encoding="utf-8")
    config = tmp_path / "feeds.toml"
    config.write_text(
        '[defaults]\ntopic = "japan-korea"\n[alerts]\nbackfill_max_age = "off"\n\n'
        f'[[feeds]]\nname = "en wire"\nurl = "{tmp_path / "en.xml"}"\nlanguage = "en"\n\n'
        f'[[feeds]]\nname = "ko wire"\nurl = "{tmp_path / "ko.xml"}"\nlanguage = "ko"\n\n'
        + "".join(f'[[feeds]]\nname = "{f.stem}"\nurl = "{f}"\n\n' for f in BACKGROUND)
        + "[topics.japan-korea]"
        + TOPIC,
        encoding="utf-8",
    )
    return str(config), str(tmp_path / "bot.db")


def botsvc(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def poll(config: str, db: str) -> dict[str, dict]:
    result = botsvc("poll", "--once", "--json", "--db", db, "--config", config)
    assert result.exit_code == 0, result.output
    return {row["guid"]: row for row in map(json.loads, result.stdout.splitlines()) if row.get("guid")}


def test_a_suggested_name_once_added_folds_a_korean_report_with_its_english_event(tmp_path):
    config, db = deployment(tmp_path)
    first = poll(config, db)
    for n in range(3):  # the archive's three cross-language events
        assert first[f"ko-{n}"]["decision"] == "duplicate"
        assert first[f"ko-{n}"]["event_id"] == first[f"en-{n}"]["event_id"]

    suggested = botsvc("concepts", "suggest", "--db", db, "--config", config)
    assert suggested.exit_code == 0, suggested.output
    assert "Seo Ji-hwan: 4 event(s); Korean 서지환 (3, " in suggested.stdout
    assert "botsvc concepts add seo-ji-hwan --en 'Seo Ji-hwan' --ko '서지환'" in suggested.stdout

    added = botsvc("concepts", "add", "seo-ji-hwan", "--en", "Seo Ji-hwan", "--ko", "서지환", "--ja", "ソ・ジファン",
                   "--db", db, "--config", config)  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "concept seo-ji-hwan added" in added.stdout
    assert "Rebuild advised: 7 stored article(s)" in added.stdout
    local = tmp_path / "concepts.local.toml"
    assert "[seo-ji-hwan]" in local.read_text(encoding="utf-8")
    assert botsvc("concepts", "suggest", "--db", db, "--config", config).stdout.count("Seo Ji-hwan") == 0
    assert "seo-ji-hwan" in default_lexicon().concepts and "seo-ji-hwan" not in bundled_lexicon().concepts

    rebuilt = botsvc("rebuild-events", "--db", db, "--config", config)
    assert rebuilt.exit_code == 0 and "re-grouped" in rebuilt.stdout
    config, db = deployment(tmp_path, later_korean=True)
    later = poll(config, db)["ko-later"]
    assert later["decision"] == "duplicate", later["reason"]
    assert later["event_id"] == first["en-later"]["event_id"]
    assert "shares concepts iwaya, japan, korea, seo-ji-hwan" in later["reason"]


def test_without_the_concept_the_korean_report_opens_its_own_event(tmp_path):
    config, db = deployment(tmp_path)
    english = poll(config, db)["en-later"]
    config, db = deployment(tmp_path, later_korean=True)
    later = poll(config, db)["ko-later"]
    assert later["decision"] == "new" and later["event_id"] != english["event_id"]


def test_check_config_refuses_a_bad_local_file_in_one_line(tmp_path):
    config, _ = deployment(tmp_path)
    local = tmp_path / "concepts.local.toml"
    local.write_text('[seo-ji-hwan]\nen = ["Seo Ji-hwan"]\nko = ["서"]\n', encoding="utf-8")
    bad = CliRunner().invoke(cli, ["check-config", "--config", config])
    assert bad.exit_code == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "concepts.local.toml: seo-ji-hwan: single characters are not words" in bad.stderr
    local.write_text("[seo-ji-hwan\n", encoding="utf-8")
    broken = CliRunner().invoke(cli, ["check-config", "--config", config])
    assert broken.exit_code == 2 and "concepts.local.toml: file: invalid TOML" in broken.stderr
    local.write_text('[seo-ji-hwan]\nen = ["Seo Ji-hwan"]\n', encoding="utf-8")
    good = CliRunner().invoke(cli, ["check-config", "--config", config])
    assert good.exit_code == 0 and "1 local concept(s)" in good.stdout


def test_adding_to_a_shipped_concept_keeps_its_spellings_and_bad_ones_are_refused(tmp_path):
    config, db = deployment(tmp_path)
    added = botsvc("concepts", "add", "kono", "--ja", "河野太郎", "--db", db, "--config", config)
    assert added.exit_code == 0, added.output
    assert "replaces the shipped concept, keeping its spellings" in added.stdout
    assert "No database" in added.stdout
    kono = default_lexicon().concepts["kono"]
    assert "Taro Kono" in kono.terms and "河野太郎" in kono.terms
    before = (tmp_path / "concepts.local.toml").read_text(encoding="utf-8")
    refused = CliRunner().invoke(cli, ["concepts", "add", "seo", "--ko", "서", "--config", config])
    assert refused.exit_code == 2 and "single characters are not words" in refused.stderr
    assert (tmp_path / "concepts.local.toml").read_text(encoding="utf-8") == before


def test_an_unwritable_local_file_is_one_line_and_changes_nothing(tmp_path):
    config, _ = deployment(tmp_path)
    (tmp_path / "concepts.local.toml.tmp").mkdir()  # the new file cannot be written
    result = CliRunner().invoke(cli, ["concepts", "add", "seo-ji-hwan", "--en", "Seo Ji-hwan", "--config", config])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("botsvc: error:") and result.stderr.count("\n") == 1
    assert "cannot write" in result.stderr and "nothing was changed" in result.stderr
    assert not (tmp_path / "concepts.local.toml").exists()
