"""How long a search takes on a big archive, per kind of query.

Builds a database of N synthetic articles (default 1,000,000) through the schema's own
tables and index triggers: events of 1–30 reports spread over six years, titles of
60–90 characters and summaries of 200–400 (Korean and Japanese ones 25–40 and
80–160, as dense scripts say as much in fewer characters), one event in five in Korean
or Japanese.
Then times ``search_events`` (what ``/news search`` and ``botsvc search`` run) for each
kind of query and prints ``name: value`` lines.

    .venv/bin/python benchmarks/search_speed.py [--articles 1000000] [--queries 40]
    .venv/bin/python benchmarks/search_speed.py --articles 50000 --db /tmp/search.db

Searches are timed with the database file read once beforehand (in the OS page cache,
as a running bot's database is); a first search in a part of the archive no process
has read lately also waits for the disk.

``--db PATH`` keeps the database (and reuses it when it already holds that many
articles), so query changes can be timed again without building it anew.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from botsvc.store.search import search_events
from botsvc.store.store import Store, open_store

START = datetime(2020, 1, 1, tzinfo=timezone.utc)
SPAN_DAYS = 6 * 365
COMMON = "Japan"
"""In about half the English reports, as in a feed set about Japan–South Korea relations."""
ENGLISH = (
    "Korea Seoul Tokyo minister talks export controls trade security summit president prime "
    "government agreement military intelligence sharing pact GSOMIA wartime labour court ruling "
    "compensation semiconductor materials dispute tariffs alliance defence drills missile North "
    "fisheries island Dokdo Takeshima history textbook shrine visit apology comfort women forced "
    "workers bilateral relations ambassador foreign ministry spokesman statement officials said "
    "on Monday Tuesday Wednesday Thursday Friday week year after before amid over with the a of "
    "to in and for as new talks deal plan review boycott tourism airline flights exports imports "
    "restrictions whitelist hydrogen fluoride photoresist polyimide chips supply chain economy"
).split()
RARE = [f"{stem}{n}" for stem in ("kestrelvale", "morrowind", "quillon") for n in range(20)]
"""Words each in about one report in 20,000."""
KOREAN = (
    "한국 일본 정부 수출규제 지소미아를 종료 외교부 장관 회담 대통령 총리 강제징용 배상 판결 "
    "반도체 소재 무역 분쟁 안보 협력 동맹 미사일 북한 독도 역사 교과서 위안부 사과 관계 개선 "
    "발표했다 밝혔다 대해 따르면 이날 지난 올해 양국 정상"
).split()
JAPANESE = (
    "日本 韓国 政府 輸出規制 軍事情報包括保護協定 外務省 大臣 会談 大統領 首相 徴用工 賠償 判決 "
    "半導体 素材 貿易 紛争 安全保障 協力 同盟 ミサイル 北朝鮮 竹島 歴史 教科書 慰安婦 謝罪 関係 改善 "
    "について によると 発表した 明らかにした 両国 首脳 会議 問題"
).split()
KINDS = {
    "common": [COMMON],
    "rare": RARE[:20],
    "three_words": ["Japan export controls", "Seoul court ruling", "Korea semiconductor materials"],
    "korean": ["수출규제", "지소미아", "강제징용", "위안부"],
    "japanese": ["輸出規制", "徴用工", "半導体", "慰安婦"],
}


def _text(rnd: random.Random, words: list[str], low: int, high: int, joiner: str, extra: list[str]) -> str:
    """A run of ``words`` between ``low`` and ``high`` characters, with ``extra`` words mixed in."""
    size = rnd.randint(low, high)
    parts = list(extra)
    while sum(map(len, parts)) + len(joiner) * len(parts) < size:
        parts.append(rnd.choice(words))
    rnd.shuffle(parts)
    return joiner.join(parts)[:size]


def _article(rnd: random.Random, language: str) -> tuple[str, str]:
    """A title (60–90 characters) and a summary (200–400) in ``language``."""
    if language == "ko":
        return _text(rnd, KOREAN, 25, 40, " ", []), _text(rnd, KOREAN, 80, 160, " ", [])
    if language == "ja":
        return _text(rnd, JAPANESE, 25, 40, "", []), _text(rnd, JAPANESE, 80, 160, "、", [])
    extra = [COMMON] if rnd.random() < 0.5 else []
    if rnd.random() < 0.00005 * len(RARE):
        extra.append(rnd.choice(RARE))
    return _text(rnd, ENGLISH, 60, 90, " ", extra), _text(rnd, ENGLISH, 200, 400, " ", [])


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _plan(articles: int, rnd: random.Random) -> Iterator[tuple[int, int, str, datetime]]:
    """(event id, reports, language, first report time) for events until ``articles`` reports."""
    event, left, step = 0, articles, SPAN_DAYS * 86400 / (articles / 15.5)
    moment = START
    while left > 0:
        event += 1
        size = min(left, rnd.randint(1, 30))
        left -= size
        moment += timedelta(seconds=rnd.expovariate(1 / step))
        draw = rnd.random()
        yield event, size, "ko" if draw < 0.1 else "ja" if draw < 0.2 else "en", moment


def build(store: Store, articles: int) -> None:
    """Fill ``store`` with ``articles`` synthetic reports in events, oldest first."""
    rnd = random.Random(22)
    rows: list[tuple] = []
    events: list[tuple] = []
    event_outlets: list[tuple] = []
    for event, size, language, first in _plan(articles, rnd):
        times = sorted(first + timedelta(seconds=rnd.uniform(0, 5 * 86400)) for _ in range(size - 1))
        times.insert(0, first)
        outlets = [f"outlet{rnd.randint(1, 60)}" for _ in times]
        for n, moment in enumerate(times):
            title, summary = _article(rnd, language)
            rows.append((moment, event, title, summary, language, outlets[n]))
        events.append((event, rows[-size][2], _iso(first), _iso(times[-1]), size))
        event_outlets.extend((event, outlet, n) for n, outlet in enumerate(dict.fromkeys(outlets)))
    rows.sort(key=lambda row: row[0])  # arrival order, as the poller stores them
    conn = store.db.conn
    with store.atomic():
        conn.executemany(
            "INSERT INTO events (id, title, topic, first_seen, last_seen, first_published, last_published, "
            "member_count) VALUES (?, ?, 'japan-korea', ?3, ?4, ?3, ?4, ?5)",
            events,
        )
        conn.executemany("INSERT INTO event_outlets (event_id, outlet, position) VALUES (?, ?, ?)", event_outlets)
    for at in range(0, len(rows), 50000):
        with store.atomic():
            conn.executemany(
                "INSERT INTO articles (feed, guid, url, title, summary, published, source, language, "
                "topics, event_id, first_seen) VALUES (?5, ?1, 'https://news.example/' || ?1, ?2, ?3, ?4, ?5, "
                "?6, '[\"japan-korea\"]', ?7, ?4)",
                (
                    (str(at + n), title, summary, _iso(moment), outlet, language, event)
                    for n, (moment, event, title, summary, language, outlet) in enumerate(rows[at : at + 50000])
                ),
            )
    conn.execute("ANALYZE")


def window_days(articles: int, days: int) -> int:
    """The ``since_until`` window: a month, longer in a small archive so it still holds a few hundred reports."""
    return max(30, math.ceil(days * 300 / max(articles, 1)))


def queries(
    kind: str, count: int, rnd: random.Random, days: int, window: int = 30
) -> list[tuple[str, date | None, date | None]]:
    """``count`` queries of one kind: (words, since, until), dates within the first ``days`` of the archive."""
    if kind in KINDS:
        return [(KINDS[kind][n % len(KINDS[kind])], None, None) for n in range(count)]
    out: list[tuple[str, date | None, date | None]] = []
    for _ in range(count):
        day = (START + timedelta(days=rnd.uniform(10, days - 40))).date()
        if kind == "since":
            out.append((COMMON, day, None))
        elif kind == "until":
            out.append((COMMON, None, day))
        else:  # a month of the archive (``window`` days)
            out.append((COMMON, day, day + timedelta(days=window)))
    return out


def timed(store: Store, kind: str, count: int, days: int, window: int = 30) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``count`` searches of ``kind``."""
    spent = []
    for words, since, until in queries(kind, count, random.Random(kind), days, window):
        started = time.perf_counter()
        hits = search_events(store, words, since=since, until=until)
        spent.append((time.perf_counter() - started) * 1000)
        assert hits or kind == "rare", f"{kind}: {words!r} found nothing"
    spent.sort()
    return statistics.median(spent), spent[max(0, round(0.95 * len(spent)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=40, help="searches timed per kind")
    parser.add_argument("--db", help="keep the database here (reused if it already holds --articles)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(args.db or Path(directory) / "search.db")
        store = open_store(path)
        held = store.query("SELECT count(*) AS n FROM articles")[0]["n"]
        build_s = 0.0
        if held != args.articles:
            if held:
                raise SystemExit(f"{path} holds {held} articles, not {args.articles}: give another --db")
            started = time.monotonic()
            build(store, args.articles)
            build_s = time.monotonic() - started
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"articles: {args.articles}")
        print(f"build_s: {build_s:.1f}")
        print(f"db_mb: {os.path.getsize(path) / 1e6:.0f}")
        print(f"load_avg_1min: {os.getloadavg()[0]:.2f}")
        with open(path, "rb") as whole:  # timed with the file in the OS page cache, as a running bot's is
            while whole.read(1 << 24):
                pass
        last = store.query("SELECT max(last_published) AS day FROM events")[0]["day"]
        days = (datetime.fromisoformat(last) - START).days
        for kind in [*KINDS, "since", "until", "since_until"]:
            search_events(store, queries(kind, 1, random.Random(kind), days)[0][0])  # warm the cache
            p50, p95 = timed(store, kind, args.queries, days, window_days(args.articles, days))
            print(f"p50_ms_{kind}: {p50:.1f}")
            print(f"p95_ms_{kind}: {p95:.1f}")
        store.close()


if __name__ == "__main__":
    main()
