"""The sitewide auction: organic and promoted candidates ranked on one score, slots priced per click.

Mechanism (one request, ``S`` slots, candidates ``i``)
------------------------------------------------------
* Every candidate has an organic score ``rel_i`` (relevance value per impression, micros). A candidate is a
  *live ad* when it has a campaign, is eligible, its campaign has budget, its bid is positive, its bid per
  click ``bid_i / pctr_i`` reaches the reserve, and ``alpha > 0``. A live ad's score is
  ``ad_i = rel_i + alpha * bid_i`` (``bid`` per impression, micros); everyone else's is ``rel_i``.
* De-duplication first: a product keeps only its best-scoring copy (ties: the lower column).
* Allocation is greedy, slot by slot from the top. At slot ``s`` an ad may be placed when fewer than
  ``floor(max_ad_share * S)`` slots are promoted so far and at least ``min_ad_spacing`` slots lie between
  ``s`` and the last promoted slot. Where an ad may be placed, live ads compete with ``ad_i``; where it may
  not, they compete organically with ``rel_i``. The highest remaining score wins (ties: lower column). A
  live ad that wins with its ad score is *promoted*; anything else shown is organic and pays nothing.

GSP price (per click)
---------------------
Lowering ``i``'s bid changes nothing above ``i``'s slot ``p`` (it lost those slots anyway), so ``i`` keeps
``p`` as long as ``rel_i + alpha * b >= r_p``, where ``r_p`` is the best score of the *other* candidates
still remaining at ``p``. The minimum per-impression bid that keeps the slot is therefore
``b_min = max(0, (r_p - rel_i) / alpha)``, and the per-click price is
``clip(round(b_min / pctr_i), reserve, floor(bid_i / pctr_i))`` — never above the bid, never below the
reserve; an ad that would have kept its slot with a zero bid pays the reserve.

VCG price (for comparison)
--------------------------
Welfare is ``sum_s e_s * score_s`` with examination probabilities ``e_s``. The advertiser's own value is the
``alpha * bid`` part of its score; its relevance belongs to the platform and users. Its payment is the welfare
the others (relevance included) lose because it bid: re-run the allocation with ``i`` competing organically,
``t_i = sum_s e_s * (score_s^{cf} - score_s^{others})``, charged per impression as ``t_i / (alpha * e_p)``
and per click after dividing by ``pctr_i``, then clipped like GSP. On a single slot this equals GSP exactly.
With the ad-load cap the greedy allocation is not always welfare-optimal, so VCG here is the "VCG rule over
the greedy allocation" — useful to compare revenue, not a truthfulness guarantee.

Reasons
-------
Every candidate gets a :class:`Reason`: ``SHOWN``; ``PADDING`` (``product == -1``); ``DUPLICATE`` (a better copy
of the same product is in the request); for candidates with a campaign whose ad did not count:
``INELIGIBLE``, ``BUDGET_EXHAUSTED``, ``BELOW_RESERVE`` (a zero bid counts as below reserve); for live ads:
``AD_LOAD_CAP`` (its ad score beat the winner of a slot where ads were blocked); otherwise ``OUTBID`` with a
``shortfall``: for live ads the extra per-impression bid (micros) needed to tie the weakest winner of a slot
where ads were allowed (``inf`` when there was none); for organic candidates the extra relevance needed to tie
the weakest winner. ``LEASE_PENDING`` is never the auction's: shared serving's engine puts it in place of
``BUDGET_EXHAUSTED`` where the campaign was kept out for its budget lease, not for its budget.

Two implementations give the same results: :func:`run_auction` (here, vectorised over requests with numpy) and
:func:`sitewide.domain.auction_reference.run_auction_reference` (a plain per-request loop, used as the test
oracle and benchmark baseline). Both validate and prepare their input with
:func:`sitewide.domain.auction_input.prepare` and price with the same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from sitewide.domain.auction_input import NEG, Prepared, prepare, price_cpc
from sitewide.domain.types import BoolArray, FloatArray, Int8Array, IntArray, ValidationError

__all__ = [
    "AuctionBatch",
    "AuctionConfig",
    "AuctionResult",
    "Reason",
    "max_ads",
    "run_auction",
]

MECHANISMS = ("gsp", "vcg")


class Reason(IntEnum):
    """Why a candidate is (not) shown; stored as ``int8`` in :attr:`AuctionResult.reason`."""

    SHOWN = 0
    BELOW_RESERVE = 1
    OUTBID = 2
    AD_LOAD_CAP = 3
    INELIGIBLE = 4
    BUDGET_EXHAUSTED = 5
    DUPLICATE = 6
    PADDING = 7
    # not set by the auction: shared serving's engine relabels a BUDGET_EXHAUSTED whose campaign had budget but
    # was not admitted for the lease (its process held no slice yet, or its read of the day's spend across
    # processes was stale; sitewide.engine.pacing): the follower catching up, not the budget spent
    LEASE_PENDING = 8


@dataclass(frozen=True)
class AuctionConfig:
    """Operator knobs of the auction."""

    alpha: float = 1.0  # weight of ad eCPM against organic value; 0 = organic only
    reserve_cpc_micros: int = 10_000  # reserve price per click (micros)
    max_ad_share: float = 0.5  # at most this share of the slots are promoted
    min_ad_spacing: int = 0  # at least this many slots between two promoted slots
    mechanism: str = "gsp"  # "gsp" | "vcg"

    def __post_init__(self) -> None:
        if not isinstance(self.alpha, int | float) or not math.isfinite(self.alpha) or self.alpha < 0:
            raise ValidationError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        r = self.reserve_cpc_micros
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 0:
            raise ValidationError(f"reserve_cpc_micros must be integer micros >= 0, got {r!r}")
        share = self.max_ad_share
        if not isinstance(share, int | float) or not (0.0 <= share <= 1.0):
            raise ValidationError(f"max_ad_share must lie in [0, 1], got {share!r}")
        sp = self.min_ad_spacing
        if isinstance(sp, bool) or not isinstance(sp, int | np.integer) or sp < 0:
            raise ValidationError(f"min_ad_spacing must be an integer >= 0, got {sp!r}")
        if self.mechanism not in MECHANISMS:
            raise ValidationError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")


@dataclass(frozen=True)
class AuctionBatch:
    """R requests × N candidates; rows are padded with ``product == -1``."""

    product: IntArray  # [R, N] product id; the same product may appear twice (dedupe keeps the best)
    relevance: FloatArray  # [R, N] organic value per impression, micros (same scale as bids)
    pctr: FloatArray  # [R, N] in (0, 1]
    bid: FloatArray  # [R, N] per-impression bid, micros; 0 = not promoted
    campaign: IntArray  # [R, N] campaign index, -1 = organic only
    eligible: BoolArray  # [R, N] product may be promoted
    budget_ok: BoolArray  # [R, N] campaign still has budget
    examination: FloatArray | None = None  # [S] examination probability per position (VCG needs them)


@dataclass(frozen=True)
class AuctionResult:
    """Outcome of R auctions with S slots over N candidate columns."""

    slot: IntArray  # [R, S] candidate column shown in each slot, -1 = empty
    promoted: BoolArray  # [R, S]
    price_cpc_micros: IntArray  # [R, S] per-click price, int64 micros; 0 for organic and empty slots
    reason: Int8Array  # [R, N] Reason code per candidate
    shortfall: FloatArray  # [R, N] for OUTBID: extra per-impression bid (or relevance) to tie a winner


def max_ads(slots: int, config: AuctionConfig) -> int:
    """Most promoted slots allowed among ``slots`` (``floor(max_ad_share * slots)``, float-safe)."""
    return int(math.floor(config.max_ad_share * slots + 1e-9))


def run_limits(slots: int, config: AuctionConfig) -> tuple[int, int, int, float, int]:
    """What one run reads from its config: (slots, ad-load cap, min ad spacing, alpha, reserve per click)."""
    s = int(slots)
    return s, max_ads(s, config), int(config.min_ad_spacing), float(config.alpha), int(config.reserve_cpc_micros)


# --------------------------------------------------------------------------------------------------------
# batch path


def _dedupe_batch(product: IntArray, score: FloatArray) -> BoolArray:
    """``True`` where a better copy (higher score, or equal score and lower column) of the product exists.

    Sorting each row by product finds the (few) repeated ids; only those are ranked, by segment reductions.
    """
    R, N = product.shape
    dup = np.zeros((R, N), dtype=np.bool_)
    if N < 2 or R == 0:
        return dup
    # sort (product, column) pairs packed into one int64: much cheaper than an argsort
    shift = max(1, (N - 1).bit_length())
    if product.max() < (1 << (62 - shift)):
        key = np.sort((product << shift) | np.arange(N, dtype=np.int64), axis=1)
        p_sorted = key >> shift
        order = key & ((1 << shift) - 1)
    else:  # ids too large to pack
        order = np.argsort(product, axis=1, kind="stable")
        p_sorted = np.take_along_axis(product, order, axis=1)
    same = (p_sorted[:, 1:] == p_sorted[:, :-1]) & (p_sorted[:, 1:] >= 0)
    if not same.any():
        return dup
    grouped = np.zeros((R, N), dtype=np.bool_)
    grouped[:, 1:] = same
    grouped[:, :-1] |= same
    rr, kk = np.nonzero(grouped)  # row-major: each run of equal (row, product) is one contiguous segment
    cols = order[rr, kk]
    prods = p_sorted[rr, kk]
    sc = score[rr, cols]
    first = np.ones(rr.size, dtype=np.bool_)
    first[1:] = (rr[1:] != rr[:-1]) | (prods[1:] != prods[:-1])
    starts = np.flatnonzero(first)
    gid = np.cumsum(first) - 1
    best = np.maximum.reduceat(sc, starts)[gid]
    keeper = np.minimum.reduceat(np.where(sc == best, cols, N), starts)[gid]
    loser = cols != keeper
    dup[rr[loser], cols[loser]] = True
    return dup


@dataclass(frozen=True)
class _Allocation:
    slot: IntArray  # [R, S]
    promoted: BoolArray  # [R, S]
    win: FloatArray  # [R, S] score the winner competed with (-inf for empty)
    runner: FloatArray  # [R, S] best remaining other score at a promoted slot (-inf if none)
    allowed: BoolArray  # [R, S] an ad could be placed here


def _allocate_batch(
    score: FloatArray, rel: FloatArray, live: BoolArray, slots: int, cap: int, spacing: int
) -> _Allocation:
    """Greedy slot-by-slot allocation over all rows at once. ``score``/``rel`` are -inf where unavailable."""
    R, N = score.shape
    S = slots
    ad = score.copy()
    org = np.where(live, rel, score)  # organic competition: live ads fall back to relevance
    org[~np.isfinite(score)] = NEG
    slot = np.full((R, S), -1, dtype=np.int64)
    promoted = np.zeros((R, S), dtype=np.bool_)
    win = np.full((R, S), NEG)
    runner = np.full((R, S), NEG)
    allowed_all = np.zeros((R, S), dtype=np.bool_)
    if N == 0 or R == 0:
        return _Allocation(slot, promoted, win, runner, allowed_all)
    rows = np.arange(R)
    used = np.zeros(R, dtype=np.int64)
    last = np.full(R, -(spacing + 1) - 1, dtype=np.int64)
    any_live = bool(live.any())
    for s in range(S):
        allowed = (used < cap) & (s - last > spacing) if any_live else np.zeros(R, dtype=np.bool_)
        w = org.argmax(axis=1)
        if allowed.any():
            w = np.where(allowed, ad.argmax(axis=1), w)
            v = np.where(allowed, ad[rows, w], org[rows, w])
        else:
            v = org[rows, w]
        filled = v > NEG
        promo = allowed & filled & live[rows, w]
        ad[rows, w] = NEG
        org[rows, w] = NEG
        if promo.any():
            pr = np.flatnonzero(promo)
            runner[pr, s] = ad[pr].max(axis=1)
            used += promo
            last = np.where(promo, s, last)
        slot[:, s] = np.where(filled, w, -1)
        win[:, s] = v
        promoted[:, s] = promo
        allowed_all[:, s] = allowed
        if not filled.any():
            break
    return _Allocation(slot, promoted, win, runner, allowed_all)


def _allocate_row(
    score: FloatArray, rel: FloatArray, live: BoolArray, slots: int, cap: int, spacing: int
) -> _Allocation:
    """:func:`_allocate_batch` for one request (``R == 1``, what ``POST /serve`` runs): the same allocation,
    from the candidates sorted once by ad score and once by organic score (highest first, ties: lower column,
    as ``argmax`` breaks them), walked slot by slot in Python instead of a dozen numpy calls per slot."""
    S = slots
    sc, lv = score[0], live[0]
    org = np.where(lv, rel[0], sc)
    org[~np.isfinite(sc)] = NEG
    by_ad: list[int] = np.argsort(-sc, kind="stable").tolist()
    by_org: list[int] = np.argsort(-org, kind="stable").tolist()
    ad_v: list[float] = sc.tolist()
    org_v: list[float] = org.tolist()
    live_l: list[bool] = lv.tolist()
    n = len(ad_v)
    taken = [False] * n
    slot, promoted, win = [-1] * S, [False] * S, [NEG] * S
    runner, allowed_at = [NEG] * S, [False] * S
    any_live = any(live_l)
    used, last, ia, io = 0, -(spacing + 1) - 1, 0, 0
    for s in range(S):
        allowed = any_live and used < cap and s - last > spacing
        allowed_at[s] = allowed
        if allowed:
            while ia < n and taken[by_ad[ia]]:
                ia += 1
            w = by_ad[ia] if ia < n else -1
            v = ad_v[w] if w >= 0 else NEG
        else:
            while io < n and taken[by_org[io]]:
                io += 1
            w = by_org[io] if io < n else -1
            v = org_v[w] if w >= 0 else NEG
        if not v > NEG:  # nothing left to show: the remaining slots stay empty
            break
        taken[w] = True
        slot[s], win[s] = w, v
        if allowed and live_l[w]:
            promoted[s] = True
            j = ia
            while j < n and taken[by_ad[j]]:
                j += 1
            runner[s] = ad_v[by_ad[j]] if j < n else NEG
            used, last = used + 1, s
    return _Allocation(
        np.array([slot], dtype=np.int64),
        np.array([promoted], dtype=np.bool_),
        np.array([win], dtype=np.float64),
        np.array([runner], dtype=np.float64),
        np.array([allowed_at], dtype=np.bool_),
    )


def _welfare_terms(alloc: _Allocation) -> FloatArray:
    return np.where(alloc.slot >= 0, alloc.win, 0.0)


_BLOCK_CELLS = 1 << 18  # rows x candidates per block: keeps temporaries cache-sized (~2 MB of float64)
_FIELDS = ("product", "relevance", "pctr", "bid", "campaign", "eligible", "budget_ok")


def _row_slice(batch: AuctionBatch, start: int, stop: int) -> AuctionBatch:
    cut = {f: np.asarray(getattr(batch, f))[start:stop] for f in _FIELDS}
    return AuctionBatch(**cut, examination=batch.examination)


def run_auction(batch: AuctionBatch, slots: int, config: AuctionConfig) -> AuctionResult:
    """Run R auctions at once (vectorised over requests). See the module docstring for the mechanism.

    Large batches are processed in blocks of about 2^18 candidate cells, which is faster than one pass
    over everything (numpy temporaries stay in cache); results are identical.
    """
    shapes = {np.shape(getattr(batch, f)) for f in _FIELDS}
    shape = np.shape(batch.product)
    if len(shapes) != 1 or len(shape) != 2:
        raise ValidationError(f"all candidate arrays must share one [R, N] shape, got {sorted(shapes)}")
    R, N = shape
    block = max(64, _BLOCK_CELLS // max(N, 1))
    if R <= block:
        return _run_block(batch, slots, config)
    parts = [_run_block(_row_slice(batch, i, i + block), slots, config) for i in range(0, R, block)]
    return AuctionResult(
        slot=np.concatenate([p.slot for p in parts]),
        promoted=np.concatenate([p.promoted for p in parts]),
        price_cpc_micros=np.concatenate([p.price_cpc_micros for p in parts]),
        reason=np.concatenate([p.reason for p in parts]),
        shortfall=np.concatenate([p.shortfall for p in parts]),
    )


def _run_block(batch: AuctionBatch, slots: int, config: AuctionConfig) -> AuctionResult:
    prep = prepare(batch, slots, config)
    R, N = prep.score.shape
    S, cap, spacing, alpha, reserve = run_limits(slots, config)

    dup = _dedupe_batch(prep.product, prep.score)
    score = np.where(dup, NEG, prep.score)
    rel = np.where(prep.pad | dup, NEG, prep.rel)
    live = prep.live & ~dup

    alloc = (_allocate_row if R == 1 else _allocate_batch)(score, rel, live, S, cap, spacing)
    slot, promoted = alloc.slot, alloc.promoted
    price = np.zeros((R, S), dtype=np.int64)
    pr, ps = np.nonzero(promoted)
    if pr.size:
        col = slot[pr, ps]
        w_rel, w_bid, w_pctr = prep.rel[pr, col], prep.bid[pr, col], prep.pctr[pr, col]
        if config.mechanism == "gsp":
            b_min = (alloc.runner[pr, ps] - w_rel) / alpha
        else:
            assert batch.examination is not None
            e = np.asarray(batch.examination, dtype=np.float64)
            b_min = _vcg_min_bid_batch(score, rel, live, alloc, pr, ps, col, w_rel, e, S, cap, spacing, alpha)
        price[pr, ps] = price_cpc(b_min, w_bid, w_pctr, reserve)

    reason, shortfall = (_reasons_row if R == 1 else _reasons_batch)(prep, dup, alloc, alpha)
    return AuctionResult(
        slot=slot, promoted=promoted, price_cpc_micros=price, reason=reason, shortfall=shortfall
    )


def _vcg_min_bid_batch(
    score: FloatArray,
    rel: FloatArray,
    live: BoolArray,
    alloc: _Allocation,
    pr: IntArray,
    ps: IntArray,
    col: IntArray,
    w_rel: FloatArray,
    e: FloatArray,
    S: int,
    cap: int,
    spacing: int,
    alpha: float,
) -> FloatArray:
    """Per-impression VCG charge of each promoted winner: re-run the allocation with it competing organically."""
    cf_live = live[pr].copy()
    cf_live[np.arange(pr.size), col] = False
    cf_score = np.where(cf_live, score[pr], np.where(np.isfinite(score[pr]), rel[pr], NEG))
    cf = _allocate_batch(cf_score, rel[pr], cf_live, S, cap, spacing)
    cf_terms = _welfare_terms(cf)
    base_terms = _welfare_terms(alloc)[pr]
    base_terms[np.arange(pr.size), ps] = w_rel  # the winner's relevance stays with the others' welfare
    total = np.zeros(pr.size)
    e_p = e[ps]
    for s in range(S):  # sequential sum, same order as the reference
        total = total + (e[s] / e_p) * (cf_terms[:, s] - base_terms[:, s])
    out: FloatArray = total / alpha
    return out


_SHOWN, _OUTBID, _AD_LOAD_CAP = np.int8(Reason.SHOWN), np.int8(Reason.OUTBID), np.int8(Reason.AD_LOAD_CAP)
_BELOW_RESERVE, _INELIGIBLE = np.int8(Reason.BELOW_RESERVE), np.int8(Reason.INELIGIBLE)
_BUDGET_EXHAUSTED, _DUPLICATE, _PADDING = (
    np.int8(Reason.BUDGET_EXHAUSTED),
    np.int8(Reason.DUPLICATE),
    np.int8(Reason.PADDING),
)


def _reasons_row(
    prep: Prepared, dup: BoolArray, alloc: _Allocation, alpha: float
) -> tuple[Int8Array, FloatArray]:
    """:func:`_reasons_batch` for one request (``R == 1``): the same reasons and shortfalls, with the per-slot
    minima taken over the ``S`` slots in Python."""
    N = prep.score.shape[1]
    reason = np.full((1, N), _OUTBID, dtype=np.int8)
    hc = prep.has_campaign
    np.copyto(reason, _BELOW_RESERVE, where=prep.below_reserve)
    np.copyto(reason, _BUDGET_EXHAUSTED, where=hc & ~prep.budget_ok)
    np.copyto(reason, _INELIGIBLE, where=hc & ~prep.eligible)
    if N == 0:
        return reason, np.zeros((1, N))
    inf = math.inf
    filled = [
        (c, w, a)
        for c, w, a in zip(*(x[0].tolist() for x in (alloc.slot, alloc.win, alloc.allowed)), strict=True)
        if c >= 0
    ]
    shown = np.zeros((1, N), dtype=np.bool_)
    shown[0, [c for c, _, _ in filled]] = True
    shortfall: FloatArray = min((w for _, w, _ in filled), default=inf) - prep.rel
    lc = np.flatnonzero(prep.live[0] & ~dup[0] & ~shown[0])
    if lc.size:
        sc = prep.score[0, lc]
        blocked = [(w, c) for c, w, a in filled if not a]
        min_b = min((w for w, _ in blocked), default=inf)
        idx_b = max((c for w, c in blocked if w == min_b), default=-1)
        capped = (sc > min_b) | ((sc == min_b) & (lc < idx_b))
        reason[0, lc[capped]] = _AD_LOAD_CAP
        min_allowed = min((w for _, w, a in filled if a), default=inf)
        shortfall[0, lc] = (min_allowed - sc) / alpha
    reason[shown] = _SHOWN
    reason[dup] = _DUPLICATE
    reason[prep.pad] = _PADDING
    shortfall[reason != _OUTBID] = 0.0
    return reason, shortfall


def _reasons_batch(
    prep: Prepared, dup: BoolArray, alloc: _Allocation, alpha: float
) -> tuple[Int8Array, FloatArray]:
    R, N = prep.score.shape
    shown = np.zeros((R, N), dtype=np.bool_)
    rr, ss = np.nonzero(alloc.slot >= 0)
    shown[rr, alloc.slot[rr, ss]] = True

    reason = np.full((R, N), Reason.OUTBID, dtype=np.int8)
    hc = prep.has_campaign
    np.copyto(reason, np.int8(Reason.BELOW_RESERVE), where=prep.below_reserve)
    np.copyto(reason, np.int8(Reason.BUDGET_EXHAUSTED), where=hc & ~prep.budget_ok)
    np.copyto(reason, np.int8(Reason.INELIGIBLE), where=hc & ~prep.eligible)
    if R == 0 or N == 0:
        return reason, np.zeros((R, N))

    filled = alloc.slot >= 0
    win = np.where(filled, alloc.win, np.inf)
    # organic candidates: the relevance they lack to tie the weakest winner
    shortfall: FloatArray = win.min(axis=1)[:, None] - prep.rel
    lost = prep.live & ~dup & ~shown
    if lost.any():
        lr, lc = np.nonzero(lost)
        sc = prep.score[lr, lc]
        # ad-load cap: the live ad's score beats the winner of some slot where ads were blocked; the weakest
        # blocked winner (ties: its highest column) decides, see the tie rule of the greedy allocation
        blocked = filled & ~alloc.allowed
        wb = np.where(blocked, win, np.inf)
        min_b = wb.min(axis=1)
        idx_b = np.where(blocked & (wb == min_b[:, None]), alloc.slot, -1).max(axis=1)
        capped = (sc > min_b[lr]) | ((sc == min_b[lr]) & (lc < idx_b[lr]))
        reason[lr[capped], lc[capped]] = Reason.AD_LOAD_CAP
        # live ads: the extra per-impression bid to tie the weakest winner of a slot open to ads
        min_allowed = np.where(alloc.allowed, win, np.inf).min(axis=1)
        shortfall[lr, lc] = (min_allowed[lr] - sc) / alpha
    reason[shown] = Reason.SHOWN
    reason[dup] = Reason.DUPLICATE
    reason[prep.pad] = Reason.PADDING
    shortfall[reason != Reason.OUTBID] = 0.0
    return reason, shortfall
