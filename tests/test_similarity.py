"""Tokens, fingerprints and the near-duplicate index (botsvc.judge.tokens, .fingerprint, .similarity)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botsvc.judge import similarity
from botsvc.judge.fingerprint import IN_BODY, IN_LEAD, IN_TITLE, Fingerprint, make_fingerprint, token_hash
from botsvc.judge.similarity import Neighbour, SimilarityIndex
from botsvc.judge.tokens import content_tokens, stem

# --------------------------------------------------------------------------- tokens


def test_lowercase_punctuation_stopwords_and_possessives():
    assert content_tokens("Seoul's decision: the pact, ENDS!") == ["seoul", "decision", "pact", "end"]


def test_hyphenated_words_are_split():
    assert content_tokens("intelligence-sharing info-sharing") == [stem("intelligence"), "shar", "info", "shar"]


def test_inflections_conflate():
    for group in (
        ["decide", "decides", "decided", "deciding"],
        ["terminate", "terminated", "termination", "terminating"],
        ["cancel", "cancels", "cancelled", "canceled", "cancelling"],
        ["end", "ends", "ended", "ending"],
        ["pact", "pacts"],
        ["country", "countries"],
        ["labour", "labor"],
        ["defence", "defense"],
        ["apologised", "apologized"],
    ):
        assert len({stem(w) for w in group}) == 1, group


def test_short_words_are_not_mangled():
    assert stem("us") == "us" and stem("gas") == "gas" and stem("news") == "new"
    assert content_tokens("crisis analysis bus") == ["crisis", "analysis", "bus"]


def test_numbers_kept_from_three_digits_with_separators_removed():
    assert content_tokens("1,120 items in 2016, 90 days, Mach 6.9, the 22nd") == ["1120", "item", "2016", "day", "mach"]


def test_acronyms_survive_the_stopword_list():
    assert content_tokens("the U.S. and US officials told us") == ["us", "us", "official"]
    # An all-caps headline is shouting, not a row of acronyms.
    assert content_tokens("FLASH: SEOUL TO QUIT US PACT") == ["flash", "seoul", "quit", "pact"]


def test_nfkc_folds_fullwidth_and_curly_apostrophes():
    assert content_tokens("ＧＳＯＭＩＡ Seoul\u2019s") == ["gsomia", "seoul"]


def test_korean_text_becomes_character_bigrams():
    assert content_tokens("한국, 일본과 지소미아 종료") == ["한국", "일본", "본과", "지소", "소미", "미아", "종료"]


def test_japanese_text_becomes_character_bigrams_with_latin_words_apart():
    assert content_tokens("日韓GSOMIAの破棄") == ["日韓", "gsomia", "の破", "破棄"]
    assert content_tokens("協") == ["協"]


@given(st.text(alphabet="ab 日韓한국 SEOUL U.S. 2016", max_size=120), st.integers(0, 40))
@settings(max_examples=150, deadline=None)
def test_a_token_limit_gives_the_first_tokens_of_the_whole_text(text, limit):
    """The fingerprint reads at most so many body tokens; stopping early must not change them."""
    assert content_tokens(text, limit) == content_tokens(text)[:limit]


def test_empty_and_punctuation_only_text():
    assert content_tokens("") == []
    assert content_tokens(" -- ... !!! ") == []


@given(st.text(max_size=200))
@settings(max_examples=150, deadline=None)
def test_tokens_are_nonempty_lowercase_strings(text):
    for tok in content_tokens(text):
        assert tok and tok == tok.lower() and not any(c.isspace() for c in tok)


# --------------------------------------------------------------------------- fingerprints


def test_token_hash_is_stable_across_processes_and_releases():
    # Persisted fingerprints depend on these values never changing (format 2: the top bit
    # marks cross-language tokens, concepts and numbers).
    assert token_hash("gsomia") == 656065703212603629
    assert token_hash("한국") == 1422518789087431947
    assert token_hash("§gsomia") >> 63 == 1 and token_hash("2019") >> 63 == 1


def test_fingerprint_records_fields():
    fp = make_fingerprint("Seoul ends pact", "The pact ends.", "Washington objects to the decision.")
    flags = dict(zip(fp.hashes, fp.flags))
    assert flags[token_hash("seoul")] & 0x07 == IN_TITLE
    assert flags[token_hash("pact")] & 0x07 == IN_TITLE | IN_LEAD
    assert flags[token_hash("pact")] >> 3 == 2  # occurrences
    assert flags[token_hash("washington")] & 0x07 == IN_BODY
    assert list(fp.hashes) == sorted(set(fp.hashes))


def test_without_summary_the_body_start_is_the_lead():
    body = " ".join("".join(chr(97 + (i // 26**j) % 26) for j in range(3)) + "x" for i in range(100))
    assert len(set(content_tokens(body))) == 100
    fp = make_fingerprint("Title here", "", body)
    flags = dict(zip(fp.hashes, fp.flags))
    assert flags[token_hash(content_tokens(body)[0])] & IN_LEAD
    assert flags[token_hash(content_tokens(body)[-1])] & 0x07 == IN_BODY


@given(st.text(max_size=80), st.text(max_size=200), st.text(max_size=400))
@settings(max_examples=100, deadline=None)
def test_fingerprint_round_trip(title, summary, body):
    fp = make_fingerprint(title, summary, body)
    data = fp.to_bytes()
    assert isinstance(data, bytes)
    assert len(data) == 5 + 9 * len(fp)
    assert Fingerprint.from_bytes(data) == fp


def test_fingerprint_rejects_damaged_bytes():
    data = make_fingerprint("Seoul ends pact", "Tokyo protests").to_bytes()
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(data[:-1])
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(b"\x09" + data[1:])
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(b"")
    with pytest.raises(ValueError):
        Fingerprint((1, 2), b"\x01")


# --------------------------------------------------------------------------- index

LONG_ARTICLE = (
    "South Korea said Thursday it is cancelling an intelligence-sharing pact with Japan amid a bitter "
    "trade dispute, a surprise announcement likely to set back U.S. efforts to bolster security "
    "co-operation with two of its most important allies in the region.",
    "South Korea said Thursday it is cancelling an intelligence-sharing pact with Japan amid a bitter "
    "trade dispute, a surprise announcement likely to set back U.S. efforts to bolster security "
    "co-operation with two of its most important allies in the region. The decision will further "
    "aggravate ties with Japan that are already at their lowest point since the two countries "
    "established diplomatic ties in 1965. The presidential office said it decided to terminate the "
    "deal because Tokyo's recent decision to downgrade South Korea's trade status caused a grave "
    "change in security co-operation. Seoul will formally notify Japan before Saturday, the deadline "
    "for extending the pact for another year. Japanese Foreign Minister Taro Kono summoned the South "
    "Korean ambassador to protest and said Seoul was misreading the security environment. The "
    "Pentagon voiced strong concern and disappointment.",
)

OTHER_STORIES = [
    ("Typhoon leaves three dead and cuts power to thousands", "Gusts uprooted trees as the storm moved up the coast."),
    ("Hosts stun Ireland in Rugby World Cup upset", "A replacement wing crossed for the decisive try at Shizuoka."),
    ("Consumption tax rises to 10% as reduced rate debuts", "Food bought to take home stays at the old rate."),
    ("Exports fall for eighth month as China-bound shipments drop", "Sales of auto components were down sharply."),
    ("Central bank holds rates, signals patience on inflation", "Policymakers kept the benchmark rate unchanged."),
]


def _index_with(*docs):
    index = SimilarityIndex()
    for doc_id, (title, summary, *body) in enumerate(docs, start=1):
        index.add(doc_id, make_fingerprint(title, summary, body[0] if body else ""))
    return index


def test_finds_a_reworded_copy():
    index = _index_with(
        *OTHER_STORIES,
        (
            "Seoul decides to end military intelligence pact with Tokyo",
            "South Korea's presidential office said it will not extend the General Security of Military "
            "Information Agreement with Japan, citing Tokyo's downgrade of its trade status.",
        ),
    )
    rewrite = make_fingerprint(
        "South Korea scraps GSOMIA intelligence accord with Japan over trade row",
        "The presidential office said Seoul will not renew the military information agreement, "
        "blaming Tokyo's decision to downgrade South Korea's trade status.",
    )
    found = index.query(rewrite, k=3)
    assert found[0].doc_id == 6
    assert found[0].similarity >= 0.3
    assert all(n.similarity < 0.1 for n in found[1:])


def test_short_summary_inside_long_article_scores_by_containment():
    index = _index_with(*OTHER_STORIES, (LONG_ARTICLE[0][:60], *LONG_ARTICLE))
    short = make_fingerprint(
        "South Korea cancels intelligence pact with Japan",
        "Seoul is cancelling its intelligence-sharing pact with Japan amid a bitter trade dispute.",
    )
    best = index.query(short, k=1)[0]
    assert best.doc_id == 6
    assert best.similarity >= 0.6
    # Whole-document cosine alone would rate the pair much lower: the long text has far more words.
    cosine_only = SimilarityIndex(containment_share=0.0)
    cosine_only.add(6, make_fingerprint(LONG_ARTICLE[0][:60], *LONG_ARTICLE))
    assert cosine_only.query(short, k=1)[0].similarity < best.similarity / 1.5


def test_identical_documents_score_one():
    index = _index_with(*OTHER_STORIES, (LONG_ARTICLE[0][:60], *LONG_ARTICLE))
    assert index.query(make_fingerprint(LONG_ARTICLE[0][:60], *LONG_ARTICLE), k=1) == [Neighbour(6, 1.0)]


def test_unrelated_documents_are_not_returned():
    index = _index_with(*OTHER_STORIES)
    query = make_fingerprint("Seoul ends intelligence pact with Tokyo", "The GSOMIA will lapse in November.")
    assert index.query(query, k=5) == []  # shares no word with any of them
    query = make_fingerprint("Typhoon season ends", "Seoul ends intelligence pact with Tokyo.")
    assert all(n.similarity < 0.2 for n in index.query(query, k=5))
    assert index.query(query, k=5, min_similarity=0.5) == []


def test_empty_index_and_empty_fingerprint():
    assert SimilarityIndex().query(make_fingerprint("Seoul ends pact")) == []
    index = _index_with(*OTHER_STORIES)
    assert index.query(make_fingerprint("", "")) == []
    assert index.query(make_fingerprint("the of and")) == []


def test_adding_a_doc_id_twice_is_an_error():
    index = _index_with(*OTHER_STORIES)
    with pytest.raises(ValueError):
        index.add(1, make_fingerprint("again"))
    assert len(index) == len(OTHER_STORIES)


def test_document_frequencies_follow_additions():
    index = SimilarityIndex()
    h = token_hash("pact")
    assert index.document_frequency(h) == 0
    index.add(1, make_fingerprint("Seoul ends pact"))
    index.add(2, make_fingerprint("Pact lapses"))
    index.add(3, make_fingerprint("Typhoon hits"))
    assert index.document_frequency(h) == 2
    assert index.idf(2) < index.idf(0)


def test_query_within_restricts_to_the_given_documents():
    index = _index_with(*OTHER_STORIES, (LONG_ARTICLE[0][:60], *LONG_ARTICLE))
    short = make_fingerprint("South Korea cancels intelligence pact with Japan")
    assert [n.doc_id for n in index.query_within(short, [6], k=3)] == [6]
    assert index.query_within(short, [1, 2, 99], k=3) == []
    nearest, inside = index.search(short, k=3, within=[1, 6], k_within=2)
    assert nearest[0].doc_id == 6 and [n.doc_id for n in inside] == [6]


def _synthetic_index(n_docs: int, seed: int = 3):
    """An index of random documents over a Zipf-like vocabulary, built straight from hashes (fast)."""
    rng = random.Random(seed)
    vocab = 30_000
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(vocab)))
    index = SimilarityIndex()
    for doc_id in range(n_docs):
        words = set(rng.choices(range(vocab), cum_weights=cum, k=40))
        hashes = sorted(token_hash(f"w{w}") for w in words)
        index.add(doc_id, Fingerprint(tuple(hashes), bytes([IN_LEAD | 8]) * len(hashes)))
    return index


def test_query_work_is_bounded_on_a_large_index():
    n_docs = 20_000
    index = _synthetic_index(n_docs)
    planted = [f"w{w}" for w in (11, 27, 103, 2_001, 5_555, 17_171, 23_232, 29_999)]
    hashes = sorted(token_hash(t) for t in planted)
    index.add(n_docs, Fingerprint(tuple(hashes), bytes([IN_LEAD | 8]) * len(hashes)))
    # The query shares the planted document's rarer words plus common ones.
    query_words = planted[2:] + [f"w{w}" for w in range(10)]
    q_hashes = sorted({token_hash(t) for t in query_words})
    query = Fingerprint(tuple(q_hashes), bytes([IN_LEAD | 8]) * len(q_hashes))
    found = index.query(query, k=3)
    assert found[0].doc_id == n_docs
    assert index.last_candidates <= similarity.POSTINGS_BUDGET
    assert index.last_candidates < n_docs // 4
    assert index.last_scored <= similarity.RESCORE_CANDIDATES
    # A query made only of the most common words walks (almost) nothing.
    common = sorted(token_hash(f"w{w}") for w in range(5))
    index.query(Fingerprint(tuple(common), bytes([IN_LEAD | 8]) * 5), k=3)
    assert index.last_candidates <= similarity.POSTINGS_BUDGET


def test_documents_without_tokens_are_harmless():
    index = SimilarityIndex()
    index.add(1, make_fingerprint(""))
    index.add(2, make_fingerprint("Seoul ends pact"))
    query = make_fingerprint("Seoul pact")
    assert index.query(query) == [Neighbour(2, 1.0)]
    assert index.query_within(query, [1, 2, 2, 77]) == [Neighbour(2, 1.0)]
    assert index.query_within(query, [1]) == []


def test_bulk_build_matches_one_by_one():
    rng = random.Random(5)
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(3000)))

    def word(w: int) -> str:
        return "".join(chr(97 + int(d)) for d in str(w)) + "q"

    docs = []
    for doc_id in range(similarity.BULK_MIN_DOCS + 50):
        words = [word(w) for w in set(rng.choices(range(3000), cum_weights=cum, k=25))]
        docs.append((doc_id * 3, make_fingerprint(" ".join(words[:5]), " ".join(words[5:]))))
    one = SimilarityIndex()
    for doc_id, fp in docs:
        one.add(doc_id, fp)
    bulk = SimilarityIndex()
    bulk.add_many((doc_id, fp.to_bytes()) for doc_id, fp in docs)  # from persisted bytes
    assert len(bulk) == len(one)
    for _, fp in docs[::97]:
        assert bulk.query(fp, k=5) == one.query(fp, k=5)
    later = make_fingerprint(f"{word(1)} {word(2)} new words", f"{word(5)} {word(9)}")
    one.add(10**6, later)
    bulk.add(10**6, later)
    assert bulk.query(later, k=5) == one.query(later, k=5)
    with pytest.raises(ValueError):
        SimilarityIndex().add_many([(1, docs[0][1]), (1, docs[1][1])] * similarity.BULK_MIN_DOCS)
