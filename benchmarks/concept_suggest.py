"""Cost of ``botsvc concepts suggest``: mining names from a month of events, without the database.

    .venv/bin/python benchmarks/concept_suggest.py [--events N]

Synthetic events (deterministic): each holds two English reports and one Korean and one
Japanese report of about 600 characters each, in words drawn from fixed vocabularies, and
every tenth event names one of a few made-up officials in all three languages. Printed,
one ``name: value`` per line: reports mined, seconds, milliseconds per report, whether
every official was found with its Korean and Japanese spelling, and peak memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from botsvc.judge.concepts import bundled_lexicon  # noqa: E402
from botsvc.judge.name_suggestions import Report, suggest  # noqa: E402

OFFICIALS = [
    ("Seo Ji-hwan", "서지환", "徐志煥"),
    ("Bae Min-jun", "배민준", "裵敏俊"),
    ("Kurogane Ren", "구로가네", "黒金蓮"),
]
EN = (
    "Japan Seoul minister said talks trade export controls Dokdo radar summit wartime labour "
    "court ruling boycott beer tourism flights Seoul Tokyo officials on Monday the the of and a in"
).split()
KO = (
    "일본 한국 정부 장관 회담 수출규제 독도 레이더 정상회담 강제징용 판결 불매 관광 항공 서울 도쿄 당국자 말했다"
).split()
JA = "日本 韓国 政府 外相 会談 輸出規制 竹島 レーダー 首脳会談 徴用工 判決 不買 観光 航空 ソウル 東京 当局者".split()


def events(count: int) -> list[Report]:
    rng = random.Random(1)
    reports = []
    for event_id in range(count):
        named = OFFICIALS[event_id // 10 % len(OFFICIALS)] if event_id % 10 == 0 else None
        for _ in range(2):
            words = rng.choices(EN, k=100)
            if named:
                words.insert(5, f"Foreign Minister {named[0]}")
            reports.append(Report(event_id, "en", " ".join(words) + "."))
        ko = rng.choices(KO, k=80)
        ja = rng.choices(JA, k=150)
        if named:
            ko.insert(3, named[1] + "은")
            ja.insert(3, named[2] + "外相は")
        reports.append(Report(event_id, "ko", " ".join(ko)))
        reports.append(Report(event_id, "ja", "".join(ja)))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    lexicon = bundled_lexicon()
    reports = events(args.events)
    started = time.perf_counter()
    found = suggest(reports, lexicon)
    seconds = time.perf_counter() - started
    spellings = {s.name: {link.language: link.spelling for link in s.links} for s in found}
    every = all(spellings.get(en) == {"ko": ko, "ja": ja} for en, ko, ja in OFFICIALS)
    if not every:
        print(f"found: {spellings}", file=sys.stderr)
    print(f"concepts suggest reports: {len(reports)}")
    print(f"concepts suggest seconds: {seconds:.2f}")
    print(f"concepts suggest ms per report: {1000 * seconds / len(reports):.2f}")
    print(f"concepts suggest officials found with both spellings: {every}")
    print(f"concepts suggest suggestions: {len(found)}")
    print(f"peak memory MB: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
