"""Retrieval: query vectors (the query text for a search, the user's click history for the feed), the vector
index with lexical (BM25) matches merged in (every search with ``EngineConfig.lexical_k``; Chinese queries always,
see :data:`CJK_LEXICAL_SHARE`), and a cache of scored candidate rows per retrieval key."""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sitewide.domain import text as tokens
from sitewide.domain.types import FloatArray, IntArray, Product, RequestKind
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.ports import LexicalIndex, RequestBatch, ScoreInput, Scorer, TextEncoder, VectorIndex

ScorerFactory = Callable[[Sequence[Product]], Scorer]  # the scorer for a catalogue (products in row order)
RowKey = tuple[int, str, str]
Rows = tuple[IntArray, FloatArray, FloatArray, FloatArray]  # candidates, similarity, pCTR, pCVR
# A search query with CJK characters fills this share of its candidate row with BM25 matches among the catalogue's
# CJK titles (all titles when ``lexical_k`` > 0), even with ``lexical_k`` = 0: unspaced Chinese titles are long,
# and on the real Taobao query–title pairs (bench/ranking.py) the text vectors alone reach recall@50 0.92 where
# BM25 reaches 0.98; half a row of BM25 matches reaches BM25's. An English catalogue has no CJK titles: nothing
# is indexed and nothing changes.
CJK_LEXICAL_SHARE = 0.5
# A Chinese query's row is ordered (and scored: the similarity the scorer sees) by ``(1 - w) · cosine + w · BM25 /
# the row's best BM25`` (0 for a candidate outside the query's top-``retrieve_k`` BM25 matches), not by cosine
# alone: on the real Taobao query–title pairs cosine puts the relevant title lower than BM25 does. ``w`` was
# chosen on the tuning half of those pairs (split by query) and measured on the other half (bench/ranking.py).
CJK_BM25_WEIGHT = 0.6
# Any other search query's row is ordered (and scored) by ``(1 - w) · cosine + w · m / the row's best m``, ``m`` = how
# many of the query's words occur in the candidate's text (title, brand, category; lower case, as substrings, so a
# plural matches): a few µs a row and no catalogue-wide index. On the simulator's intent queries the char-n-gram
# cosine alone ordered a row below BM25's NDCG@10; ``w`` was chosen on validation requests whose queries are not
# among the test requests' (bench/ranking.py). The row's candidates are the same as without it.
WORD_MATCH_WEIGHT = 0.4
USER_MEMORY = 500_000  # clicking users whose history vector a process keeps (the least recent forgotten first)


def word_share(query: str, texts: Sequence[str]) -> list[float]:
    """How many of ``query``'s words occur in each text (lower case, as substrings), over the best text's count
    (all 0 when none holds one)."""
    words = set(tokens.words(query))
    m = [sum(w in t for w in words) for t in (x.lower() for x in texts)] if words else []
    best = max(m, default=0)
    return [c / best for c in m] if best else [0.0] * len(texts)


class StageTimer:
    """Wall time per serving stage (ms, summed over requests); off unless a benchmark sets
    ``Engine.timer``. Meaningful for one thread at a time."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._t) * 1e3
        self._t = now


class CandidateCache:
    """A fixed slab of candidate rows addressed by key; when full it starts afresh (keys are cheap to refill).
    Stored in float32, the precision of the index's similarities and the learned scorer's outputs."""

    def __init__(self, rows: int) -> None:
        self.rows = max(0, int(rows))
        self.lock = threading.Lock()  # held by its user around lookup + gather and around store
        self._slot: dict[RowKey, int] = {}
        self._by_owner: dict[tuple[str, str], list[RowKey]] = {}
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._used = 0

    @property
    def enabled(self) -> bool:
        return self.rows > 0

    def fits(self, n: int) -> bool:
        """Whether ``n`` more rows fit without starting afresh."""
        return self.enabled and self._used + n <= self.rows

    def clear(self) -> None:
        self._slot.clear()
        self._by_owner.clear()
        self._used = 0

    def lookup(self, keys: Sequence[RowKey]) -> list[int]:
        get = self._slot.get
        return [get(k, -1) for k in keys]

    def forget(self, owner: tuple[str, str]) -> None:
        for k in self._by_owner.pop(owner, ()):
            self._slot.pop(k, None)

    def store(
        self, keys: Sequence[RowKey], cand: IntArray, sim: FloatArray, pctr: FloatArray, pcvr: FloatArray
    ) -> None:
        n, width = cand.shape
        if self._arrays is None or self._arrays[0].shape[1] != width:
            self.clear()
            self._arrays = (
                np.full((self.rows, width), -1, dtype=np.int32),
                np.zeros((self.rows, width), dtype=np.float32),
                np.zeros((self.rows, width), dtype=np.float32),
                np.zeros((self.rows, width), dtype=np.float32),
            )
        a = self._arrays
        lo = self._used
        a[0][lo : lo + n], a[1][lo : lo + n] = cand, sim
        a[2][lo : lo + n], a[3][lo : lo + n] = pctr, pcvr
        for j, k in enumerate(keys):
            self._slot[k] = lo + j
            if k[1] == "u":
                self._by_owner.setdefault(("u", str(k[2])), []).append(k)
        self._used += n

    def gather(self, slots: Sequence[int]) -> Rows:
        assert self._arrays is not None
        idx = np.asarray(slots, dtype=np.int64)
        c, s, p, v = self._arrays
        return (
            c[idx].astype(np.int64),
            s[idx].astype(np.float64),
            p[idx].astype(np.float64),
            v[idx].astype(np.float64),
        )


@dataclass(eq=False)
class Retrieval:
    """Candidates and their scores for a batch of requests over one :class:`Catalogue`."""

    config: EngineConfig
    catalogue: Catalogue
    encoder: TextEncoder
    index: VectorIndex
    scorer_for: ScorerFactory
    lexical: LexicalIndex | None = None
    scorer: Scorer = field(init=False)  # bound to the catalogue by rebuild()
    _user_vec: OrderedDict[str, FloatArray] = field(init=False, default_factory=OrderedDict)  # ≤ USER_MEMORY
    cache: CandidateCache = field(init=False)
    tuned_recall: float = field(init=False, default=1.0)  # the index's tuning recall on sample queries
    timer: StageTimer | None = field(init=False, default=None)
    lexical_rows: int = field(init=False, default=0)  # catalogue rows in the lexical index
    cjk_bm25_weight: float = field(init=False, default=CJK_BM25_WEIGHT)  # a benchmark may tune it
    word_weight: float = field(init=False, default=WORD_MATCH_WEIGHT)  # a benchmark may tune it

    def __post_init__(self) -> None:
        self.cache = CandidateCache(self.config.candidate_cache_rows)

    def rebuild(self, build_index: bool = True) -> None:
        """After the catalogue (re)loaded: index its vectors (and texts), bind the scorer, forget users.
        ``build_index=False``: the vector index already holds the catalogue (restored from a snapshot)."""
        cat = self.catalogue
        if cat.products and build_index:
            rows = np.arange(len(cat.products), dtype=np.int64)
            self.index.build(rows, cat.vecs)
            self.tuned_recall = self.index.tune(
                self.encoder.encode(self.sample_queries()),
                self.config.retrieve_k,
                self.config.ann_recall_target,
            )
        self._build_lexical()
        self.scorer = self.scorer_for(cat.products)
        self._user_vec = OrderedDict()
        self.cache = CandidateCache(self.config.candidate_cache_rows)

    def upserted(self, rows: IntArray) -> None:
        """After the catalogue changed or added ``rows`` (:meth:`Catalogue.upsert`): their vectors into the index
        (no rebuild), the lexical index and the scorer follow the catalogue, cached candidate rows are
        forgotten (they may hold the old texts' similarities); users' history vectors are kept."""
        cat = self.catalogue
        self.index.upsert(rows, cat.vecs[rows])
        self._build_lexical()
        self.scorer = self.scorer_for(cat.products)
        self.cache = CandidateCache(self.config.candidate_cache_rows)

    def removed(self, rows: IntArray) -> None:
        """After :meth:`Catalogue.remove`: the rows leave the vector and lexical indexes (no rebuild of the vector
        index) and cached candidate rows are forgotten."""
        self.index.remove(rows)
        self._build_lexical()
        self.cache = CandidateCache(self.config.candidate_cache_rows)

    def _build_lexical(self) -> None:
        """BM25 over every title with ``lexical_k`` > 0, else over the CJK titles only (for Chinese queries)."""
        cat = self.catalogue
        self.lexical_rows = 0
        if not cat.products or self.lexical is None:
            return
        rows = np.arange(len(cat.products), dtype=np.int64)
        if self.config.lexical_k <= 0:
            # an ASCII text has no CJK (str.isascii is a flag lookup): the regex runs on the others only
            cjk = ~np.fromiter(map(str.isascii, cat.texts), dtype=bool, count=len(cat.texts))
            at = np.flatnonzero(cjk)
            cjk[at] = [tokens.has_cjk(cat.texts[i]) for i in at.tolist()]
            rows = rows[cjk]
        rows = rows[~cat.removed[rows]]
        if len(rows):
            self.lexical.build(rows, [cat.texts[i] for i in rows.tolist()])
            self.lexical_rows = len(rows)

    def sample_queries(self, n: int = 200, seed: int = 0) -> list[str]:
        """Query-like texts for tuning the index: 2–4 words of the whole texts (title, brand, category) of ``n``
        random catalogue products. On the 1M generated catalogue (IVF, 2,048 cells) their recall tracks shoppers'
        intent queries (bench/serving.py): 0.96 on them took 138 cells where intent queries need 120; on title
        words alone 0.94 took 277 cells where intent queries need 63."""
        texts = self.catalogue.texts
        rng = np.random.default_rng(seed)
        out = []
        for i in rng.choice(len(texts), size=min(n, len(texts)), replace=False).tolist():
            words = texts[i].split() or [""]
            k = min(len(words), int(rng.integers(2, 5)))
            out.append(" ".join(words[j] for j in np.sort(rng.choice(len(words), size=k, replace=False))))
        return out

    @staticmethod
    def search_rows(batch: RequestBatch) -> list[int]:
        """The requests retrieved by their query text: search requests with a query."""
        return [
            i
            for i, (k, t) in enumerate(zip(batch.kinds, batch.queries, strict=True))
            if k == RequestKind.SEARCH and t
        ]

    def _seed(self, user_id: str) -> int:
        """A cold user's deterministic pseudo-random catalogue row (what their feed starts from)."""
        return zlib.crc32(user_id.encode()) % max(len(self.catalogue.ids), 1)

    def query_vectors(self, batch: RequestBatch, search: list[int]) -> FloatArray:
        """Unit query vectors: the query text's for the ``search`` rows, the user's history vector for the rest."""
        vecs = self.catalogue.vecs
        r = len(batch.request_ids)
        q = np.zeros((r, vecs.shape[1]))
        if search:
            q[search] = self.encoder.encode([batch.queries[i] for i in search])
        by_text = set(search)
        for i in range(r):
            if i in by_text:
                continue
            v = self._user_vec.get(batch.user_ids[i])
            q[i] = vecs[self._seed(batch.user_ids[i])] if v is None else v
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        out: FloatArray = q / np.where(norm == 0, 1.0, norm)
        return out

    def retrieve(self, batch: RequestBatch) -> tuple[IntArray, FloatArray]:
        """The candidates the scorer sees: ``(product rows [R, K], similarity [R, K])``, sorted by similarity,
        ``-1``-padded. Search requests use the query text; feed requests the user's click-history vector."""
        search = self.search_rows(batch)
        q = self.query_vectors(batch, search)
        if self.timer:
            self.timer.lap("featurise")
        k = self.config.retrieve_k
        # an 8-bit index's scores reorder near-ties: it asks for more rows, the exact cosine keeps the top k
        fetch = int(np.ceil(k * float(getattr(self.index, "overfetch", 1.0))))
        found, _ = self.index.search(q, fetch)
        found, sim = self._rescore(found, q)
        cand, sim = np.ascontiguousarray(found[:, :k]), np.ascontiguousarray(sim[:, :k])
        lexical = None  # [R, K] each candidate's lexical match (the row's best = 1), aligned with ``cand``
        cjk = {i for i in search if tokens.has_cjk(batch.queries[i])}
        merged = False
        if search and self.lexical is not None and self.lexical_rows:
            cjk_k = max(self.config.lexical_k, int(k * CJK_LEXICAL_SHARE))
            want = {i: min(cjk_k if i in cjk else self.config.lexical_k, k) for i in search}
            rows = [i for i in search if want[i] > 0]
            if rows:
                merged = True
                depth = k if cjk else max(want[i] for i in rows)  # a Chinese row's fusion reads k scores
                lex, lex_s = self.lexical.search([batch.queries[i] for i in rows], depth)
                if cjk:
                    lexical = np.zeros(cand.shape)
                for j, i in enumerate(rows):
                    cand[i], _ = self._merge_lexical(cand[i], lex[j, : want[i]], q[i])
                    if i in cjk and lexical is not None and lex_s[j, 0] > 0:
                        score = dict(zip(lex[j].tolist(), (lex_s[j] / lex_s[j, 0]).tolist(), strict=True))
                        lexical[i] = [score.get(p, 0.0) for p in cand[i].tolist()]
        words = [i for i in search if i not in cjk] if self.word_weight > 0 else []
        if words:
            lexical = np.zeros(cand.shape) if lexical is None else lexical
            texts = self.catalogue.texts
            for i in words:
                row = cand[i][cand[i] >= 0].tolist()
                lexical[i, : len(row)] = word_share(batch.queries[i], [texts[p] for p in row])
        if merged or lexical is not None:
            weight = np.array(
                [self.cjk_bm25_weight if i in cjk else self.word_weight for i in range(len(cand))]
            )
            cand, sim = self._rescore(cand, q, lexical, weight)
        if self.timer:
            self.timer.lap("retrieve")
        return cand, sim

    def _rescore(
        self,
        cand: IntArray,
        q: FloatArray,
        lexical: FloatArray | None = None,
        weight: FloatArray | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """Every row's cosine similarities recomputed from the catalogue's vectors and sorted by (similarity,
        row): the same candidates give the same row and the same scorer inputs whichever index found them
        (an ANN index's float sums differ from numpy's in the last bits, which reorders near-ties).
        ``lexical`` (search rows' lexical match, else ``None``): the similarity is fused with it with the row's
        ``weight``, see :data:`CJK_BM25_WEIGHT` and :data:`WORD_MATCH_WEIGHT`; rows of zeros keep the cosine."""
        ok = cand >= 0
        s = np.einsum("rkd,rd->rk", self.catalogue.vecs[np.maximum(cand, 0)], q.astype(np.float32))
        if lexical is not None and weight is not None:
            w = weight[:, None]
            fuse = lexical.any(axis=1, keepdims=True)
            s = np.where(fuse, (1.0 - w) * s + w * lexical, s)
        s = np.where(ok, s, -np.inf)
        order = np.lexsort((np.where(ok, cand, np.iinfo(np.int64).max), -s))
        cand = np.take_along_axis(cand, order, axis=1)
        s = np.take_along_axis(s, order, axis=1)
        out: FloatArray = np.where(cand >= 0, s, 0.0).astype(np.float64)
        return cand, out

    def _merge_lexical(self, row: IntArray, lexical: IntArray, q: FloatArray) -> tuple[IntArray, FloatArray]:
        """One search row with the query's BM25 matches in place of its weakest vector matches, re-sorted by
        cosine similarity (the similarity the scorer sees stays the text-vector cosine for every candidate)."""
        have = set(row[row >= 0].tolist())
        add = [int(p) for p in lexical.tolist() if p >= 0 and p not in have]
        k = len(row)
        kept = row[row >= 0][: k - len(add)]
        merged = np.concatenate([kept, np.asarray(add, dtype=np.int64)])
        s = self.catalogue.vecs[merged] @ q
        order = np.argsort(-s, kind="stable")
        out_c = np.full(k, -1, dtype=np.int64)
        out_s = np.zeros(k)
        out_c[: len(merged)] = merged[order]
        out_s[: len(merged)] = s[order]
        return out_c, out_s

    def remember_click(self, user_id: str, product_id: str) -> None:
        """Fold a clicked product into the user's history vector (what feed retrieval starts from)."""
        v = self.catalogue.vecs[self.catalogue.row[product_id]]
        prev = self._user_vec.pop(user_id, None)  # re-inserted last: the least recently clicking go first
        self._user_vec[user_id] = v if prev is None else 0.7 * prev + 0.3 * v
        if len(self._user_vec) > USER_MEMORY:  # a forgotten user is served as a cold one
            self._user_vec.popitem(last=False)
        self.cache.forget(("u", user_id))

    def _row_key(self, kind: int, user_id: str, query: str) -> RowKey:
        """What a request's candidate row depends on: the query text for a search with a query, else the
        user's history vector (cold users: their deterministic seed product)."""
        if kind == RequestKind.SEARCH and query:
            return (0, "q", query)
        if user_id in self._user_vec:
            return (kind, "u", user_id)
        return (kind, "c", str(self._seed(user_id)))

    def candidates(self, batch: RequestBatch) -> Rows:
        """``(candidates, similarity, pCTR, pCVR)``, each ``[R, K]``: :meth:`retrieve` and the scorer, run
        once per distinct retrieval key not already cached (see ``EngineConfig.candidate_cache_rows``)."""
        kinds = np.asarray(batch.kinds, dtype=np.int64)
        keys = [
            self._row_key(k, u, q)
            for k, u, q in zip(kinds.tolist(), batch.user_ids, batch.queries, strict=True)
        ]
        cache = self.cache
        with cache.lock:  # concurrent requests: hits are copied out while no other request can refill
            slots = cache.lookup(keys)
            hit = [i for i, s in enumerate(slots) if s >= 0]
            if len(hit) == len(keys):
                return cache.gather(slots)
            hit_rows = cache.gather([slots[i] for i in hit]) if hit else None
        first: dict[RowKey, int] = {}
        for i, s in enumerate(slots):
            if s < 0:
                first.setdefault(keys[i], i)
        rows = list(first.values())
        sub = RequestBatch(
            request_ids=[batch.request_ids[i] for i in rows],
            user_ids=[batch.user_ids[i] for i in rows],
            kinds=kinds[rows],
            queries=[batch.queries[i] for i in rows],
            ts_ms=batch.ts_ms,
            slots=batch.slots,
        )
        cand, sim = self.retrieve(sub)
        pctr, pcvr = self.scorer.score(
            ScoreInput(product=cand, request_kind=kinds[rows], user=np.full(len(rows), -1), similarity=sim)
        )
        if self.timer:
            self.timer.lap("score")
        if cache.enabled:  # a row is the same whether it comes from the cache (float32) or was just computed
            sim, pctr, pcvr = (x.astype(np.float32).astype(np.float64) for x in (sim, pctr, pcvr))
            with cache.lock:
                if not cache.fits(len(rows)):  # full: start afresh
                    cache.clear()
                if cache.fits(len(rows)):
                    cache.store(list(first), cand, sim, pctr, pcvr)
        pos = {k: j for j, k in enumerate(first)}
        miss = [i for i, s in enumerate(slots) if s < 0]
        where = np.array([pos[keys[i]] for i in miss], dtype=np.int64)
        oc: IntArray = np.empty((len(keys), cand.shape[1]), dtype=np.int64)
        of = np.empty((3, len(keys), cand.shape[1]))
        oc[miss] = cand[where]
        for j, x in enumerate((sim, pctr, pcvr)):
            of[j, miss] = x[where]
        if hit_rows is not None:
            oc[hit] = hit_rows[0]
            for j in range(3):
                of[j, hit] = hit_rows[j + 1]
        return oc, of[0], of[1], of[2]
