"""Near-duplicate search over news items: an inverted index over fingerprints.

Pure and in-memory: no database, no network. The pieces, in order:

:func:`botsvc.judge.tokens.content_tokens`
    The words compared (stemmed, stopwords dropped, CJK as character bigrams).

:func:`botsvc.judge.fingerprint.make_fingerprint` -> :class:`~botsvc.judge.fingerprint.Fingerprint`
    What the store persists per article: token hashes and where each occurs. The
    index is rebuilt from those bytes at start-up (:meth:`SimilarityIndex.add_many`,
    about 2 s for 100,000 articles) instead of re-tokenising the texts.

:class:`SimilarityIndex` scoring (0..1)
    Each token of a document weighs ``field weight x idf``: :data:`TITLE_WEIGHT`
    for title words, :data:`LEAD_WEIGHT` for summary/lead words,
    :data:`BODY_WEIGHT` for words found only further down a body; ``idf =
    ln((N + PRIOR_DOCS + 1) / (df + 1))`` over the N indexed documents
    (:data:`PRIOR_DOCS` keeps weights moderate while the archive is small; a
    query word the archive has never seen gets the largest weight, so new
    names pull the score down). The similarity is *weighted containment*: the
    share of the lighter document's total weight that is found in the other
    one, where a word the other document only has deep in its body counts
    :data:`BODY_CREDIT` of its weight. So a two-sentence RSS summary wholly
    covered by the title and lead of a long article scores 1.0, and one
    covered only by scattered body words about half that. Identical texts
    score 1.0. Cosine similarity of the same weights breaks ties (and can be
    blended in with ``containment_share < 1``).

:class:`SimilarityIndex` search
    An inverted index (token -> documents). A query walks the posting lists of
    its rarest known tokens first, stops before :data:`POSTINGS_BUDGET` posting
    entries, ranks the documents it met by the idf mass they share with the
    query, and scores only the best :data:`RESCORE_CANDIDATES` exactly. The
    work per query is bounded whatever the archive size; it never scans every
    stored document. :meth:`SimilarityIndex.query_within` restricts a query to
    given documents (the event assigner passes the members of events inside
    its time window).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import lt

import numpy as np

from botsvc.judge.fingerprint import CROSS_LANGUAGE_BIT, IN_BODY, IN_LEAD, IN_TITLE, Fingerprint, raw_parts

__all__ = ["Neighbour", "SimilarityIndex"]

# --------------------------------------------------------------------------- scoring parameters

#: Field weights: a title word counts more than a summary word, a word found only deep in the body less.
TITLE_WEIGHT = 1.5
LEAD_WEIGHT = 1.0
BODY_WEIGHT = 0.5
#: In containment, a match with a word that the other document only has deep in its body counts this much.
BODY_CREDIT = 0.5
#: Pseudo-documents added to N in the idf so that a tiny archive doesn't give extreme weights.
PRIOR_DOCS = 20
#: Share of weighted containment in the score; the rest is cosine (which always breaks ties).
CONTAINMENT_SHARE = 1.0

#: Cross-language score (see :meth:`SimilarityIndex._exact`): weighted containment over the
#: concept and number tokens alone, scaled by this factor, counts when the two documents
#: share at least this much of that weight (in idf units, measured on the query).
CROSS_SCALE = 0.5
CROSS_MIN_SHARED = 6.0

#: Work limits per query (see the module docstring): posting entries walked, documents scored exactly.
POSTINGS_BUDGET = 4000
RESCORE_CANDIDATES = 32
#: ``query_within`` scores every listed document when there are at most this many.
SCORE_ALL_WITHIN = 64
#: ``add_many`` into an empty index builds it in bulk from this many documents.
BULK_MIN_DOCS = 1000


def _normalised(fp: Fingerprint) -> tuple[tuple[int, ...], bytes]:
    """(hashes, flags) strictly ascending; a hand-made fingerprint listing a hash twice gets its flags merged."""
    hashes, flags = fp.hashes, fp.flags
    if all(map(lt, hashes, hashes[1:])):
        return hashes, flags
    merged: dict[int, int] = {}
    for h, f in zip(hashes, flags):
        merged[h] = merged.get(h, 0) | f
    ordered = tuple(sorted(merged))
    return ordered, bytes(merged[h] for h in ordered)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole``, 0 where ``whole`` is 0 (no NaN or infinity to clean up afterwards)."""
    out = np.zeros_like(part)
    np.divide(part, whole, out=out, where=whole > 0.0)
    return out


def _flag_table(title: float, lead: float, body: float):
    """Per flag byte, the weight of its strongest field (title > lead > body)."""
    table = np.zeros(256, dtype=np.float64)
    for flag in range(256):
        if flag & IN_TITLE:
            table[flag] = title
        elif flag & IN_LEAD:
            table[flag] = lead
        elif flag & IN_BODY:
            table[flag] = body
    return table


class _Growable:
    """A numpy array that grows by doubling; ``view()`` is the filled part."""

    __slots__ = ("data", "size")

    def __init__(self, dtype, capacity: int = 1024) -> None:
        self.data = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def reserve(self, size: int) -> None:
        if size > len(self.data):
            bigger = np.zeros(max(size, 2 * len(self.data)), dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger

    def extend(self, values) -> None:
        end = self.size + len(values)
        self.reserve(end)
        self.data[self.size : end] = values
        self.size = end

    def view(self):
        return self.data[: self.size]


@dataclass(frozen=True)
class Neighbour:
    doc_id: int
    similarity: float  # 0..1


class SimilarityIndex:
    """Inverted index of fingerprints with idf-weighted containment/cosine scoring.

    Storage: a token-id vocabulary, one ``array('I')`` posting list per token,
    and all documents' token ids and flag bytes in two flat arrays (CSR style).
    Document frequencies are the posting-list lengths, kept current by
    :meth:`add`; idf weights are computed at query time, so they follow the
    archive as it grows.
    """

    def __init__(
        self,
        *,
        title_weight: float = TITLE_WEIGHT,
        lead_weight: float = LEAD_WEIGHT,
        body_weight: float = BODY_WEIGHT,
        body_credit: float = BODY_CREDIT,
        prior_docs: float = PRIOR_DOCS,
        containment_share: float = CONTAINMENT_SHARE,
        cross_scale: float = CROSS_SCALE,
        cross_min_shared: float = CROSS_MIN_SHARED,
        postings_budget: int = POSTINGS_BUDGET,
        rescore_candidates: int = RESCORE_CANDIDATES,
    ) -> None:
        self._fw = _flag_table(title_weight, lead_weight, body_weight)
        self._fw_list = self._fw.tolist()
        self._body_credit = float(body_credit)
        self._body_only = _flag_table(0.0, 0.0, 1.0)  # 1.0 for a word found only deep in the body
        self._prior = float(prior_docs)
        self._alpha = float(containment_share)
        self._cross_scale = float(cross_scale)
        self._cross_min = float(cross_min_shared)
        self._budget = int(postings_budget)
        self._rescore = int(rescore_candidates)
        self._vocab: dict[int, int] = {}  # token hash -> token id
        self._postings: list[array] = []  # token id -> internal doc numbers, ascending
        self._df = _Growable(np.int32)  # token id -> document frequency
        self._cross = _Growable(np.float64)  # token id -> 1.0 for a cross-language token (concept, number)
        self._tid_hash = _Growable(np.uint64)  # token id -> its hash
        self._doc_ids: list[int] = []  # internal number -> caller's doc id
        self._number: dict[int, int] = {}  # caller's doc id -> internal number
        self._tokens = _Growable(np.uint32, 16384)  # all documents' token ids, document after document
        self._flags = _Growable(np.uint8, 16384)
        self._starts = _Growable(np.int64)  # internal number -> offset into _tokens (plus one final end)
        self._starts.extend([0])
        # query scratch, reset after every query
        self._last = _Growable(np.int64)  # per document: a position, to keep one copy of each
        self._qweight = _Growable(np.float64)  # per token id: the query's weight (0: not in the query)
        self._qbody = _Growable(np.float64)  # per token id: 1.0 if the query has it only deep in its body
        self.last_candidates = 0  # documents met by the last query's posting walk
        self.last_scored = 0  # documents scored exactly by the last query

    # ------------------------------------------------------------------ building
    def __len__(self) -> int:
        return len(self._doc_ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._number

    def add(self, doc_id: int, fp: Fingerprint) -> None:
        """Index a document. Adding a doc id twice is an error (the index never forgets)."""
        if doc_id in self._number:
            raise ValueError(f"document {doc_id} is already indexed")
        number = len(self._doc_ids)
        hashes, flags = _normalised(fp)
        vocab = self._vocab
        get = vocab.get
        postings = self._postings
        new_list = postings.append
        tids: list[int] = []
        keep = tids.append
        fresh: list[int] = []  # hashes new to the vocabulary, in token-id order
        for h in hashes:
            tid = get(h)
            if tid is None:
                tid = vocab[h] = len(postings)
                new_list(array("I", (number,)))
                fresh.append(h)
            else:
                postings[tid].append(number)
            keep(tid)
        if fresh:  # one numpy call for all of them, not two per new token
            self._tid_hash.extend(np.array(fresh, dtype=np.uint64))
            self._cross.extend([1.0 if h & CROSS_LANGUAGE_BIT else 0.0 for h in fresh])
        ntok = len(postings)
        df = self._df
        if ntok > df.size:
            df.reserve(ntok)
            df.size = ntok
            self._qweight.reserve(ntok)
            self._qweight.size = ntok
            self._qbody.reserve(ntok)
            self._qbody.size = ntok
        if tids:
            df.data[tids] += 1
        self._tokens.extend(tids)
        self._flags.extend(np.frombuffer(flags, dtype=np.uint8))
        self._starts.extend([self._tokens.size])
        self._doc_ids.append(doc_id)
        self._number[doc_id] = number
        self._last.reserve(number + 1)
        self._last.size = number + 1

    def add_many(self, items: Iterable[tuple[int, Fingerprint | bytes]]) -> None:
        """Index many documents at once (the start-up rebuild); same result as :meth:`add` for each, in order.

        A fingerprint may also be given as its persisted bytes (``Fingerprint.to_bytes()``),
        which is the fastest way: into an empty index, the posting lists are then
        built with numpy without creating a Python object per token.
        """
        items = list(items)
        if self._doc_ids or len(items) < BULK_MIN_DOCS:
            for doc_id, fp in items:
                self.add(doc_id, fp if isinstance(fp, Fingerprint) else Fingerprint.from_bytes(fp))
            return
        ids = [doc_id for doc_id, _ in items]
        if len(set(ids)) != len(ids):
            raise ValueError("add_many: a document id occurs twice")
        parts = [raw_parts(fp) for _, fp in items]
        lens = np.fromiter((count for _, _, count in parts), dtype=np.int64, count=len(parts))
        all_hashes = np.frombuffer(b"".join(h for h, _, _ in parts), dtype="<u8")
        all_flags = np.frombuffer(b"".join(f for _, f, _ in parts), dtype=np.uint8)
        del parts
        ends = np.cumsum(lens)
        rising = all_hashes[1:] > all_hashes[:-1]
        rising[ends[:-1][ends[:-1] > 0] - 1] = True  # a new document may start lower
        if not rising.all():  # some hand-made fingerprint is not strictly ascending: take the careful path
            for doc_id, fp in items:
                self.add(doc_id, fp if isinstance(fp, Fingerprint) else Fingerprint.from_bytes(fp))
            return
        del items, rising
        uniq = np.unique(all_hashes)
        tids = np.searchsorted(uniq, all_hashes).astype(np.uint32)
        del all_hashes
        counts = np.bincount(tids, minlength=len(uniq))
        n = len(ids)
        # Sort (token, document) pairs as one integer key: per token, its documents in ascending order.
        keys = tids.astype(np.uint64)
        keys *= np.uint64(n)
        keys += np.repeat(np.arange(n, dtype=np.uint32), lens)
        keys.sort()
        np.remainder(keys, np.uint64(n), out=keys)
        by_token = keys.astype(np.uint32)
        del keys
        raw = by_token.data.cast("B")
        postings: list[array] = []
        offset = 0
        for size in (counts * 4).tolist():
            plist = array("I")
            plist.frombytes(raw[offset : offset + size])
            postings.append(plist)
            offset += size
        raw.release()
        del by_token
        self._postings = postings
        self._vocab = dict(zip(uniq.tolist(), range(len(uniq))))
        ntok = len(uniq)
        for column in (self._df, self._qweight, self._qbody):
            column.reserve(ntok)
            column.size = ntok
        self._df.data[:ntok] = counts
        self._tid_hash.extend(uniq)
        self._cross.extend(((uniq >> np.uint64(63)) & np.uint64(1)).astype(np.float64))
        self._tokens.extend(tids)
        self._flags.extend(all_flags)
        self._starts.extend(ends)
        self._doc_ids = ids
        self._number = {doc_id: i for i, doc_id in enumerate(ids)}
        self._last.reserve(len(ids))
        self._last.size = len(ids)

    def document_frequency(self, fp_hash: int) -> int:
        tid = self._vocab.get(fp_hash)
        return 0 if tid is None else len(self._postings[tid])

    def idf(self, df: int) -> float:
        return math.log((len(self._doc_ids) + self._prior + 1.0) / (df + 1.0))

    # ------------------------------------------------------------------ querying
    def query(self, fp: Fingerprint, k: int = 5, min_similarity: float = 0.0) -> list[Neighbour]:
        """The ``k`` most similar indexed documents, best first, with similarity >= ``min_similarity``.

        Only documents sharing a token with ``fp`` can be returned, and only
        the best :data:`RESCORE_CANDIDATES` of those met while walking the
        rarest tokens' posting lists (at most :data:`POSTINGS_BUDGET` entries).
        """
        return self.search(fp, k=k, min_similarity=min_similarity)[0]

    def query_within(
        self, fp: Fingerprint, doc_ids: Iterable[int], k: int = 5, min_similarity: float = 0.0
    ) -> list[Neighbour]:
        """Like :meth:`query`, but only among ``doc_ids`` (unknown ids are ignored).

        Up to :data:`SCORE_ALL_WITHIN` listed documents are all scored exactly,
        whether or not the posting walk meets them; from a longer list, the
        best :data:`RESCORE_CANDIDATES` of those the walk meets.
        """
        return self.search(fp, k=0, within=doc_ids, k_within=k, min_similarity_within=min_similarity)[1]

    def search(
        self,
        fp: Fingerprint,
        k: int = 5,
        min_similarity: float = 0.0,
        *,
        within: Iterable[int] | None = None,
        allow: Callable[[np.ndarray], np.ndarray] | None = None,
        k_within: int = 1,
        min_similarity_within: float = 0.0,
    ) -> tuple[list[Neighbour], list[Neighbour]]:
        """:meth:`query` plus a restricted query, in one pass (one posting walk, one scoring).

        The restriction is either ``within`` (doc ids, as :meth:`query_within`)
        or ``allow``: a vectorised predicate that gets an array of positions
        (see :meth:`position`) of documents met by the posting walk and returns
        a boolean array, True for those eligible. Returns ``(nearest overall,
        nearest eligible)``; the second list is empty without a restriction.
        """
        self.last_candidates = self.last_scored = 0
        if not self._doc_ids:
            return [], []
        focus = None
        if within is not None and k_within > 0:
            number_of = self._number
            focus = np.unique(np.fromiter((number_of[d] for d in within if d in number_of), dtype=np.int64))
            if not len(focus):
                focus = None
        restricted = focus is not None or (allow is not None and k_within > 0)
        if k <= 0 and not restricted:
            return [], []
        q = self._prepare(fp)
        if q is None:
            return [], []
        rescore = self._rescore
        general = focused = None
        score_all = focus is not None and len(focus) <= SCORE_ALL_WITHIN
        if k > 0 or (restricted and not score_all):
            met, mass = self._walk(q)
            if k > 0:
                # When a restricted query is asked too, the unrestricted one only reports
                # neighbours (for explanations): a shorter shortlist is enough.
                wide = min(rescore, max(2 * k, 8)) if restricted else rescore
                general = met if len(met) <= wide else met[np.argpartition(-mass, wide - 1)[:wide]]
            if restricted and not score_all:
                if focus is not None:
                    keep = np.zeros(len(self._doc_ids), dtype=bool)
                    keep[focus] = True
                    keep = keep[met]
                else:
                    assert allow is not None  # restricted without a focus: only through ``allow``
                    keep = np.asarray(allow(met), dtype=bool)
                met, mass = met[keep], mass[keep]
                focused = met if len(met) <= rescore else met[np.argpartition(-mass, rescore - 1)[:rescore]]
        if score_all:
            focused = focus
        parts = [x for x in (general, focused) if x is not None and len(x)]
        if not parts:
            return [], []
        numbers = np.unique(np.concatenate(parts))
        starts = self._starts.data
        numbers = numbers[starts[numbers + 1] > starts[numbers]]  # a document without tokens matches nothing
        if not len(numbers):
            return [], []
        self.last_scored = len(numbers)
        scores, ties = self._exact(q, numbers)
        nearest = self._rank(numbers, scores, ties, general, k, min_similarity) if general is not None else []
        inside = (
            self._rank(numbers, scores, ties, focused, k_within, min_similarity_within) if focused is not None else []
        )
        return nearest, inside

    def shared_hashes(self, fp: Fingerprint, doc_id: int) -> list[int]:
        """Token hashes ``fp`` shares with indexed document ``doc_id`` (for explanations)."""
        number = self._number[doc_id]
        starts = self._starts.data
        tids = self._tokens.data[starts[number] : starts[number + 1]]
        return sorted(set(fp.hashes).intersection(self._tid_hash.data[tids].tolist()))

    def position(self, doc_id: int) -> int:
        """0-based position of a document in the order documents were added (KeyError if absent)."""
        return self._number[doc_id]

    def _prepare(self, fp: Fingerprint):
        """(known tokens as (df, hash, token id, weight, flag) rarest first, total weight, squared norm, idf top).

        The hash breaks ties between equally rare tokens, so the walk does not
        depend on how token ids happened to be numbered (incremental or bulk build).
        """
        if not len(fp.hashes):
            return None
        top = len(self._doc_ids) + self._prior + 1.0
        log = math.log
        fw = self._fw_list
        vocab = self._vocab
        postings = self._postings
        unseen = log(top)
        q_total = 0.0
        q_sq = 0.0
        q_cross = 0.0
        known: list[tuple[int, int, int, float, int]] = []
        for h, flag in zip(fp.hashes, fp.flags):
            tid = vocab.get(h)
            if tid is None:
                w = fw[flag] * unseen
            else:
                df = len(postings[tid])
                w = fw[flag] * log(top / (df + 1.0))
                known.append((df, h, tid, w, flag))
            q_total += w
            q_sq += w * w
            if h & CROSS_LANGUAGE_BIT:
                q_cross += w
        if not known or q_total <= 0.0:
            return None
        known.sort()
        return known, q_total, q_sq, top, q_cross

    def _walk(self, q):
        """Documents met on the rarest tokens' postings (each once) and the query idf mass they share."""
        known = q[0]
        postings = self._postings
        budget = self._budget
        walked = []
        weights = []
        sizes = []
        for df, _, tid, w, _ in known:
            if df > budget:
                break
            budget -= df
            walked.append(postings[tid])
            weights.append(w)
            sizes.append(df)  # len(postings[tid]), read by _prepare for this query
        if not walked:
            return np.empty(0, np.int64), np.empty(0)
        # One copy of the postings walked, one array (a numpy view per posting cost more than the copy).
        met = np.frombuffer(b"".join(walked), dtype=np.uint32).astype(np.int64)
        del walked
        # Summed in walk order, as ``np.add.at`` would (same floats), without its scratch array.
        mass = np.bincount(met, weights=np.repeat(weights, sizes))[met]
        last = self._last.data
        positions = np.arange(len(met))
        last[met] = positions
        once = last[met] == positions  # keep one entry per document
        met = met[once]
        self.last_candidates = len(met)
        return met, mass[once]

    def _rank(self, numbers, scores, ties, subset, k: int, min_similarity: float) -> list[Neighbour]:
        """The best ``k`` of ``subset`` (internal numbers; those missing from the sorted ``numbers`` are skipped)."""
        if k <= 0 or not len(subset):
            return []
        where = np.searchsorted(numbers, subset)
        present = where < len(numbers)
        present[present] = numbers[where[present]] == subset[present]
        subset, where = subset[present], where[present]
        sub_scores = scores[where]
        order = np.lexsort((-ties[where], -sub_scores))
        ids = self._doc_ids
        out: list[Neighbour] = []
        for i in order.tolist():
            s = float(sub_scores[i])
            if s < min_similarity or s <= 0.0:
                break
            out.append(Neighbour(ids[int(subset[i])], min(1.0, s)))
            if len(out) >= k:
                break
        return out

    def _exact(self, q, numbers):
        """(score, cosine) of each listed document, vectorised over their tokens."""
        known, q_total, q_sq, top, q_cross = q
        qweight = self._qweight.data
        qbody = self._qbody.data
        tids_q = [t for _, _, t, _, _ in known]
        qweight[tids_q] = [w for _, _, _, w, _ in known]
        qbody[tids_q] = self._body_only[[f for _, _, _, _, f in known]]
        try:
            starts_all = self._starts.data
            starts = starts_all[numbers]
            lengths = starts_all[numbers + 1] - starts
            total = int(lengths.sum())
            seg = np.zeros(len(numbers), dtype=np.int64)
            np.cumsum(lengths[:-1], out=seg[1:])
            pos = np.arange(total, dtype=np.int64) + np.repeat(starts - seg, lengths)
            toks = self._tokens.data[pos]
            flags = self._flags.data[pos]
            dw = self._fw[flags] * np.log(top / (self._df.data[toks] + 1.0))
            qw = qweight[toks]
            # Only the tokens shared with the query are covered (a fifth or so): the credits are
            # worked out for those alone; the other entries stay 0.0, as qw * credit gave them.
            at = np.flatnonzero(qw > 0.0)
            d_deep = self._body_only[flags[at]]
            q_deep = qbody[toks[at]]
            # A match counts BODY_CREDIT when only the *other* side has the word deep in its body.
            cut = 1.0 - self._body_credit
            d_total = np.add.reduceat(dw, seg)
            d_sq = np.add.reduceat(dw * dw, seg)
            covered_q = np.zeros(total)
            covered_q[at] = qw[at] * (1.0 - cut * d_deep * (1.0 - q_deep))
            covered_d = np.zeros(total)
            covered_d[at] = dw[at] * (1.0 - cut * q_deep * (1.0 - d_deep))
            cover_q = np.add.reduceat(covered_q, seg)
            cover_d = np.add.reduceat(covered_d, seg)
            dot = np.add.reduceat(qw * dw, seg)
            # Cross-language tokens only (concepts, figures): what a report in another language can
            # share. Skipped when the query has too little of them to ever pass the gate.
            across = None
            if q_cross >= self._cross_min:
                cross = self._cross.data[toks]
                d_cross = np.add.reduceat(dw * cross, seg)
                cover_q_cross = np.add.reduceat(covered_q * cross, seg)
                cover_d_cross = np.add.reduceat(covered_d * cross, seg)
                across = np.where(
                    q_cross <= d_cross,
                    _share(cover_q_cross, np.full_like(d_cross, q_cross)),
                    _share(cover_d_cross, d_cross),
                )
                across = np.where(cover_q_cross >= self._cross_min, across * self._cross_scale, 0.0)
        finally:
            qweight[tids_q] = 0.0
            qbody[tids_q] = 0.0
        # share of the lighter document's weight found in the other one
        containment = np.where(
            q_total <= d_total, _share(cover_q, np.full_like(d_total, q_total)), _share(cover_d, d_total)
        )
        cosine = _share(dot, math.sqrt(q_sq) * np.sqrt(d_sq))
        alpha = self._alpha
        scores = containment if alpha >= 1.0 else alpha * containment + (1.0 - alpha) * cosine
        return (scores if across is None else np.maximum(scores, across)), cosine
