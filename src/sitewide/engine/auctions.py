"""The auction-only path: the caller brings the candidates, the engine prices the ads among them.

A marketplace that ranks its own organic results sends up to :data:`MAX_AUCTIONS` auctions per call, each with
its candidate product ids (or a category, or a search query) and a number of ad slots. Each auction is priced
against the live campaigns exactly as ``serve`` prices a request — the same value estimate, pacing multipliers,
budget guard, experiments, eligibility and domain auction (GSP, reserve) — with two differences: every slot is
an ad slot, and organic candidates score zero (see ``Serving.price(ads_only=True)``). Winners come back
ranked, each with a *resolved bid id*: a signed token holding what a later impression, click or purchase needs
(auction id, product, campaign, rank, per-click price, user), so that events refer to the auction without any
per-auction state kept here, and every worker of a multi-process server can read every other worker's ids.

Candidates: explicit product ids keep only the products some active campaign bids for (the others cannot win
an ad slot and would only cost scoring time); a category is its products with a campaign, the
``retrieve_k`` closest to the query (or the user's history) when there are more; a query alone is retrieved
exactly as a ``serve`` search request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import IntArray, RequestKind, ValidationError
from sitewide.engine.campaigns import CampaignBook
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.retrieval import Retrieval, Rows
from sitewide.engine.serving import Serving
from sitewide.ports import Clock, RequestBatch, ScoreInput

MAX_AUCTIONS = 5  # per call
MAX_SLOTS = 50  # per auction
MAX_PRODUCTS = 10_000  # candidate ids per auction


@dataclass(frozen=True, slots=True)
class AuctionRequest:
    """One auction: candidates by ``product_ids``, or by ``category``, or by ``query`` (a query with ids or a
    category orders them by relevance to it); ``slots`` ad slots; ``user_id`` the caller's opaque user id."""

    auction_id: str
    slots: int
    user_id: str = ""
    product_ids: tuple[str, ...] = ()
    category: str | None = None
    query: str = ""
    ts_ms: int = 0  # 0 = now


@dataclass(frozen=True, slots=True)
class ResolvedBid:
    """A winning ad: what its impression, click and purchase events refer to."""

    auction_id: str
    product_id: str
    campaign_id: str
    rank: int  # 1-based among the auction's winners
    price_micros: int  # the GSP price per click
    user_id: str


@dataclass(frozen=True, slots=True)
class AuctionOutcome:
    auction_id: str
    winners: tuple[ResolvedBid, ...]


def check_requests(requests: Sequence[AuctionRequest]) -> None:
    """Raise ValidationError naming the first auction that breaks a limit."""
    if not 1 <= len(requests) <= MAX_AUCTIONS:
        raise ValidationError(f"send 1 to {MAX_AUCTIONS} auctions per call, got {len(requests)}")
    seen: set[str] = set()
    for a in requests:
        if not a.auction_id or a.auction_id in seen:
            raise ValidationError(f"auction ids must be non-empty and distinct, got {a.auction_id!r}")
        seen.add(a.auction_id)
        if not 1 <= a.slots <= MAX_SLOTS:
            raise ValidationError(f"auction {a.auction_id}: slots must be 1..{MAX_SLOTS}, got {a.slots}")
        if len(a.product_ids) > MAX_PRODUCTS:
            raise ValidationError(f"auction {a.auction_id}: at most {MAX_PRODUCTS} product ids")
        if a.product_ids and a.category is not None:
            raise ValidationError(f"auction {a.auction_id}: give product ids or a category, not both")
        if not a.product_ids and a.category is None and not a.query:
            raise ValidationError(f"auction {a.auction_id}: give product ids, a category or a query")


class AuctionDesk:
    """Builds each auction's scored candidate row and runs them through serving's pricing in one batch."""

    def __init__(
        self, catalogue: Catalogue, retrieval: Retrieval, campaigns: CampaignBook, serving: Serving
    ) -> None:
        self.catalogue = catalogue
        self.retrieval = retrieval
        self.campaigns = campaigns
        self.serving = serving
        self._keyed: tuple[object, ...] | None = None  # (products, product_campaign, removed) indexed
        self._by_category: dict[str, IntArray] = {}

    def _category_rows(self, category: str) -> IntArray:
        """The catalogue rows of ``category`` that some active campaign bids for (rebuilt when the catalogue
        or the campaigns change, so a request does no catalogue-sized work)."""
        cat, pc = self.catalogue, self.campaigns.product_campaign
        key = (cat.products, pc, cat.removed)
        if self._keyed is None or any(a is not b for a, b in zip(self._keyed, key, strict=True)):
            rows = np.flatnonzero((pc >= 0) & ~cat.removed)
            groups: dict[str, list[int]] = {}
            for r in rows.tolist():
                groups.setdefault(cat.products[r].category, []).append(r)
            self._by_category = {c: np.asarray(v, dtype=np.int64) for c, v in groups.items()}
            self._keyed = key
        return self._by_category.get(category, np.zeros(0, dtype=np.int64))

    def _bidding_rows(self, product_ids: Sequence[str]) -> IntArray:
        row, pc, gone = self.catalogue.row, self.campaigns.product_campaign, self.catalogue.removed
        rows = [r for r in (row.get(p, -1) for p in product_ids) if r >= 0 and pc[r] >= 0 and not gone[r]]
        return np.asarray(list(dict.fromkeys(rows)), dtype=np.int64)

    def _rows(self, batch: RequestBatch, requests: Sequence[AuctionRequest]) -> Rows:
        """``(candidates, similarity, pCTR, pCVR)`` ``[R, K]`` for the batch, ``-1``-padded."""
        retrieval, k = self.retrieval, self.retrieval.config.retrieve_k
        q = retrieval.query_vectors(batch, retrieval.search_rows(batch))
        vecs = self.catalogue.vecs
        parts: list[Rows] = []
        for i, a in enumerate(requests):
            if a.product_ids or a.category is not None:
                cand = (
                    self._bidding_rows(a.product_ids)
                    if a.product_ids
                    else self._category_rows(a.category or "")
                )
                sim = vecs[cand] @ q[i] if len(cand) else np.zeros(0)
                if a.category is not None and len(cand) > k:
                    top = np.argpartition(-sim, k - 1)[:k]
                    cand, sim = cand[top], sim[top]
                c2, s2 = cand[None, :], sim[None, :]
                if len(cand):
                    pctr, pcvr = retrieval.scorer.score(
                        ScoreInput(c2, batch.kinds[i : i + 1], np.full(1, -1), s2)
                    )
                else:
                    pctr = pcvr = np.zeros((1, 0))
                parts.append((c2, s2, pctr, pcvr))
            else:
                sub = RequestBatch(
                    [a.auction_id], [a.user_id], batch.kinds[i : i + 1], [a.query], batch.ts_ms
                )
                parts.append(retrieval.candidates(sub))
        width = max(1, max(p[0].shape[1] for p in parts))
        out = (
            np.full((len(parts), width), -1, dtype=np.int64),
            np.zeros((len(parts), width)),
            np.zeros((len(parts), width)),
            np.zeros((len(parts), width)),
        )
        for i, p in enumerate(parts):
            n = p[0].shape[1]
            for dst, src in zip(out, p, strict=True):
                dst[i, :n] = src[0]
        return out

    def run(self, requests: Sequence[AuctionRequest], clock: Clock) -> list[AuctionOutcome]:
        check_requests(requests)
        ts = next((a.ts_ms for a in requests if a.ts_ms), 0) or clock.now_ms()
        slots = max(a.slots for a in requests)
        batch = RequestBatch(
            request_ids=[a.auction_id for a in requests],
            user_ids=[a.user_id for a in requests],
            kinds=np.array([int(RequestKind.SEARCH if a.query else RequestKind.FEED) for a in requests]),
            queries=[a.query for a in requests],
            ts_ms=ts,
            slots=slots,
        )
        if not self.catalogue.ids:
            return [AuctionOutcome(a.auction_id, ()) for a in requests]
        sb, camp_ids = self.serving.price(batch, self._rows(batch, requests), ads_only=True)
        ids = self.catalogue.ids
        out: list[AuctionOutcome] = []
        for i, a in enumerate(requests):
            won: list[ResolvedBid] = []
            for s in range(a.slots):
                if not sb.promoted[i, s]:
                    continue
                won.append(
                    ResolvedBid(
                        auction_id=a.auction_id,
                        product_id=ids[int(sb.product_idx[i, s])],
                        campaign_id=camp_ids[int(sb.campaign_idx[i, s])],
                        rank=len(won) + 1,
                        price_micros=int(sb.price_cpc_micros[i, s]),
                        user_id=a.user_id,
                    )
                )
            out.append(AuctionOutcome(a.auction_id, tuple(won)))
        return out


class BidCodec:
    """Resolved bid ids: the winner's fields as compact JSON, base64url, and an HMAC-SHA256 tag (128 bits)
    under the server's secret, so that an event cannot name a price or campaign the auction did not give."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValidationError("the bid-id secret must be at least 16 bytes")
        self._key = secret

    def _tag(self, body: bytes) -> str:
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def encode(self, bid: ResolvedBid) -> str:
        fields = [bid.auction_id, bid.product_id, bid.campaign_id, bid.rank, bid.price_micros, bid.user_id]
        body = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=")
        return f"{body.decode()}.{self._tag(body)}"

    def decode(self, token: str) -> ResolvedBid:
        """The bid behind ``token``; ValidationError when it was not issued with this secret."""
        body, _, tag = token.partition(".")
        if not body or not hmac.compare_digest(tag, self._tag(body.encode())):
            raise ValidationError("unknown resolved bid id (not issued by this engine)")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            a, p, c, rank, price, user = json.loads(raw)
            return ResolvedBid(str(a), str(p), str(c), int(rank), int(price), str(user))
        except (ValueError, TypeError) as exc:  # a forged tag would be needed to get here
            raise ValidationError("malformed resolved bid id") from exc
