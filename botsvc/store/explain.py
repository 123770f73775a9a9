"""Why an item was alerted, suppressed or dropped: ``botsvc explain <url-or-guid>``.

Everything shown was recorded when the item was judged (matched keywords, the
nearest archive articles and their similarity, the event chosen and why), so the
answer describes the decision actually taken, not one recomputed with today's
archive or settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botsvc.ingest.normalise import canonical_url
from botsvc.store import seenkeys
from botsvc.store.feedback import feedback_summary
from botsvc.store.merges import merges_into
from botsvc.store.portable import find
from botsvc.store.store import Store, iso


@dataclass
class Explanation:
    ref: str
    verdict: str
    """One line: alerted / suppressed / irrelevant, and the reason."""
    article: dict | None = None
    event: dict | None = None
    neighbours: list[tuple[float, dict]] = field(default_factory=list)
    """(similarity, article row) of the nearest archive articles when it was judged."""
    first_seen: str | None = None
    feedback: str | None = None
    """"Not relevant" reports about its event and the keywords that matched it, if any."""
    merges: list[str] = field(default_factory=list)
    """How other events were merged into its event ("merged event N into M on <date> via article K")."""


_HELD_BACK = {
    "backfill": "stored without an alert: older than [alerts] backfill_max_age on its feed's first poll",
    "capped": "stored and only counted in the digest: over [alerts] max_per_feed new alerts in one poll",
    "reported": "stored from a person's missed-story report: alerted only in a channel its reporter manages",
}


def _article_verdict(article: dict, event: dict | None) -> str:
    if article["placement"] == "seeded archive" or (event and event["seeded"] and article["feed"] == "seed"):
        return "seeded: part of the archive of known events, never alerted"
    if article["duplicate_of"] is not None:
        return (
            f"suppressed as a near-duplicate of article {article['duplicate_of']} "
            f"(similarity {article['similarity']:.2f}); joined event {article['event_id']}"
        )
    held_back = event.get("held_back") if event else None
    if held_back in _HELD_BACK:
        return f"not alerted: opened event {article['event_id']}, {_HELD_BACK[held_back]}"
    return f"alerted: opened event {article['event_id']}"


def _explain_article(store: Store, ref: str, article: dict, repeat: bool = False) -> Explanation:
    event = store.event(article["event_id"]) if article["event_id"] is not None else None
    verdict = _article_verdict(article, event)
    if repeat:
        verdict = (
            f"suppressed as an exact repeat of article {article['id']} (same GUID, link, or title "
            f"from the same outlet), which was {verdict}"
        )
    neighbours = []
    for neighbour_id, similarity in json.loads(article.get("neighbours") or "[]"):
        row = store.article(neighbour_id)
        if row is not None:
            neighbours.append((similarity, row))
    summary = feedback_summary(store, [event["id"]]) if event else None
    feedback = summary.describe_event() if summary else None
    merges = [merge.describe() for merge in merges_into(store, event["id"])] if event else []
    return Explanation(ref, verdict, article, event, neighbours, article["first_seen"], feedback, merges)


def _explain_copy(store: Store, ref: str, copy: dict) -> Explanation | None:
    """An item found to be a near-verbatim copy of an archived article (re-dated or re-published)."""
    original = store.article(copy["original_id"])
    if original is None:
        return None
    found = _explain_article(store, ref, original)
    when = str(original["published"] or original["event_time"] or original["first_seen"])[:10]
    found.verdict = (
        f"suppressed: republished copy of article {original['id']} of {when} "
        f"(title and lead {copy['similarity']:.2f} alike; published {copy['published'] or 'undated'}), "
        f"event {original['event_id']}"
    )
    found.first_seen = copy["first_seen"]
    return found


def _irrelevant(store: Store, ref: str, url: str) -> list[Explanation]:
    """The item, once, if one of its keys is among those of items judged irrelevant: these are
    kept as hashes, so its link or its GUID in each known feed is looked up, not searched for."""
    keys = [f"url:{url}"] + [f"guid:{row['name']}\x1f{ref}" for row in store.query("SELECT name FROM feeds")]
    hashes = [seenkeys.key_hash(key) for key in keys]
    marks = ",".join("?" * len(hashes))
    rows = store.query(f"SELECT last_seen FROM seen_hashes WHERE hash IN ({marks}) ORDER BY last_seen DESC", hashes)
    return [
        Explanation(
            ref,
            "irrelevant: no topic rule matched its title, summary or text, or a reported example "
            f"dropped it (last in a feed {iso(datetime.fromtimestamp(row['last_seen'], timezone.utc))})",
        )
        for row in rows[:1]
    ]


def explain(store: Store, ref: str) -> list[Explanation]:
    """Every stored decision about the item with link or GUID ``ref`` (one per feed it came from)."""
    ref = ref.strip()
    url = canonical_url(ref)
    articles = store.query("SELECT * FROM articles WHERE url = ? OR guid = ? ORDER BY id", (url, ref))
    if articles:
        return [_explain_article(store, ref, row) for row in store._decode_articles(articles)]
    copies = store.query(
        "SELECT * FROM republished_copies WHERE url = ? OR url = ? OR guid = ? ORDER BY id", (url, ref, ref)
    )
    if copies:
        return [copy for row in copies if (copy := _explain_copy(store, ref, row)) is not None]
    seen = store.query(
        "SELECT key, decision, article_id, first_seen FROM seen_items WHERE key = ? "
        f"OR (key LIKE 'guid:%' AND substr(key, {find(store.dialect, 'key', '?')} + 1) = ?) ORDER BY first_seen",
        (f"url:{url}", "\x1f", ref),
    )
    found = _irrelevant(store, ref, url)
    for row in seen:
        if row["decision"] == "irrelevant" or row["article_id"] is None:
            found.append(
                Explanation(
                    ref,
                    "irrelevant: no topic rule matched its title, summary or text, nor did its structure",
                    first_seen=row["first_seen"],
                )
            )
            continue
        article = store.article(row["article_id"])
        if article is not None:
            found.append(_explain_article(store, ref, article, repeat=True))
    return found


def describe_relevance(record: dict) -> str:
    """ "decided by the structure: actors japan (Tokyo), korea (Seoul); relation talks" or by the rules."""
    if record.get("judgement") == "learned":
        return (
            f"decided by the learned judgement: like reported example article {record.get('example')} "
            f"({record.get('label')}), score {record.get('score')}"
        )
    if record.get("judgement") == "report":
        return f"decided by a report: {record.get('reporter')} reported it as a missed story"
    if record.get("judgement") == "structure":
        actors = ", ".join(f"{state} ({', '.join(terms)})" for state, terms in record.get("actors", {}).items())
        return f"decided by the structure: actors {actors}; relation {', '.join(record.get('relations', []))}"
    return f"decided by the topic rules: {', '.join(record.get('keywords', [])) or '-'}"


def render(explanation: Explanation) -> str:
    """Plain text for the terminal."""
    lines = [f"{explanation.ref}", f"  verdict: {explanation.verdict}"]
    if explanation.first_seen:
        lines.append(f"  first seen: {explanation.first_seen}")
    article = explanation.article
    if article is not None:
        lines += [
            f"  article {article['id']}: {article['title']}",
            f"    {article['source']} · published "
            f"{article['published'] or 'date unknown, placed at ' + str(article['event_time'])}"
            f" · feed {article['feed']}",
            f"    {article['url'] or '(no link)'}",
            f"  topics: {', '.join(article['topics']) or '-'}",
            f"  matched keywords: {', '.join(article['matched_keywords']) or '-'}",
        ]
        if article.get("relevance"):
            lines.append(f"  relevance: {describe_relevance(article['relevance'])}")
        if article["placement"]:
            lines.append(f"  event placement: {article['placement']}")
    if explanation.neighbours:
        lines.append("  nearest archive articles when judged:")
        for similarity, row in explanation.neighbours:
            lines.append(
                f"    {similarity:.2f}  article {row['id']} (event {row['event_id']}) {row['source']}: {row['title']}"
            )
    elif article is not None and article["placement"] != "seeded archive":
        lines.append("  nearest archive articles when judged: none shared enough words to score")
    event = explanation.event
    if event is not None:
        kind = "seeded event" if event["seeded"] else "event"
        lines.append(
            f"  {kind} {event['id']}: {event['title']} · {event['member_count']} report(s) from "
            f"{', '.join(event['outlets'])} · first published {event['first_published'] or 'unknown'}, "
            f"last {event['last_published'] or 'unknown'}"
        )
    for merge in explanation.merges:
        lines.append(f"  {merge}")
    if explanation.feedback:
        lines.append(f"  not relevant: {explanation.feedback}")
    return "\n".join(lines)
