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
the weakest winner.

Two implementations give the same results: :func:`run_auction` (vectorised over requests with numpy) and
:func:`run_auction_reference` (a plain per-request loop, used as the test oracle and benchmark baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from sitewide.domain.types import ValidationError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

__all__ = [
    "AuctionBatch",
    "AuctionConfig",
    "AuctionResult",
    "Reason",
    "max_ads",
    "run_auction",
    "run_auction_reference",
]

_NEG = -np.inf
_MAX_PRICE = 2.0**62  # per-click prices must fit int64 micros
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


# --------------------------------------------------------------------------------------------------------
# validation and per-candidate preparation (shared by both paths)


@dataclass(frozen=True)
class _Prepared:
    pad: BoolArray  # [R, N]
    has_campaign: BoolArray
    eligible: BoolArray
    budget_ok: BoolArray
    below_reserve: BoolArray  # has_campaign & eligible & budget_ok but bid too low
    live: BoolArray  # live ad (alpha > 0 included)
    rel: FloatArray
    pctr: FloatArray
    bid: FloatArray
    score: FloatArray  # rel + alpha * bid for live ads, rel otherwise
    product: IntArray


def _as_2d(name: str, value: Any, kind: str, shape: tuple[int, ...] | None) -> npt.NDArray[Any]:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D [R, N] array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValidationError(f"{name} has shape {arr.shape}, expected {shape}")
    if kind == "int":
        if arr.dtype.kind not in "iu" and arr.size:
            raise ValidationError(f"{name} must hold integers, got dtype {arr.dtype}")
        return arr.astype(np.int64, copy=False)
    if kind == "bool":
        if arr.dtype.kind not in "biu" and arr.size:
            raise ValidationError(f"{name} must hold booleans, got dtype {arr.dtype}")
        return arr.astype(np.bool_, copy=False)
    if arr.dtype.kind not in "fiu" and arr.size:
        raise ValidationError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _prepare(batch: AuctionBatch, slots: int, config: AuctionConfig) -> _Prepared:
    if not isinstance(config, AuctionConfig):
        raise ValidationError("config must be an AuctionConfig")
    if isinstance(slots, bool) or not isinstance(slots, int | np.integer) or slots < 1:
        raise ValidationError(f"slots must be an integer >= 1, got {slots!r}")
    product = _as_2d("product", batch.product, "int", None)
    shape = product.shape
    rel = _as_2d("relevance", batch.relevance, "float", shape)
    pctr = _as_2d("pctr", batch.pctr, "float", shape)
    bid = _as_2d("bid", batch.bid, "float", shape)
    campaign = _as_2d("campaign", batch.campaign, "int", shape)
    eligible = _as_2d("eligible", batch.eligible, "bool", shape)
    budget_ok = _as_2d("budget_ok", batch.budget_ok, "bool", shape)
    if product.size and product.min() < -1:
        raise ValidationError("product ids must be >= 0 (or -1 for padding)")
    if campaign.size and campaign.min() < -1:
        raise ValidationError("campaign indices must be >= 0 (or -1 for organic)")
    pad = product == -1
    # fast path: every entry (padding included) already valid -> one reduction per array, no masking
    clean = (
        bool(np.isfinite(rel.sum()))
        and (bid.size == 0 or (bool(bid.min() >= 0) and bool(bid.max() < np.inf)))
        and (pctr.size == 0 or (bool(pctr.min() > 0) and bool(pctr.max() <= 1)))
    )
    if not clean:
        real = ~pad
        if not np.isfinite(rel[real]).all():
            raise ValidationError("relevance must be finite for every real candidate")
        b = bid[real]
        if not np.isfinite(b).all() or (b < 0).any():
            raise ValidationError("bid must be finite and >= 0 for every real candidate")
        p = pctr[real]
        if not ((p > 0) & (p <= 1)).all():  # NaN fails both comparisons
            raise ValidationError("pctr must lie in (0, 1] for every real candidate")
        # neutralise padding so that later arithmetic never sees NaN or zero pCTR
        rel = np.where(pad, 0.0, rel)
        bid = np.where(pad, 0.0, bid)
        pctr = np.where(pad, 1.0, pctr)
    if config.mechanism == "vcg":
        if batch.examination is None:
            raise ValidationError("the VCG mechanism needs examination probabilities")
    if batch.examination is not None:
        e = np.asarray(batch.examination, dtype=np.float64)
        if e.shape != (slots,):
            raise ValidationError(f"examination must have shape ({slots},), got {e.shape}")
        if not ((e > 0) & (e <= 1)).all() or (np.diff(e) > 0).any():
            raise ValidationError(
                "examination probabilities must lie in (0, 1] and not increase with position"
            )

    has_campaign = (campaign >= 0) & ~pad
    ad_ok_gate = has_campaign & eligible & budget_ok
    per_click = bid / pctr
    if ad_ok_gate.any() and np.where(ad_ok_gate, per_click, 0.0).max() >= _MAX_PRICE:
        raise ValidationError(f"bid per click must stay below {_MAX_PRICE:.0e} micros")
    clears = (bid > 0) & (per_click >= float(config.reserve_cpc_micros))
    below_reserve = ad_ok_gate & ~clears
    live = ad_ok_gate & clears if config.alpha > 0 else np.zeros_like(pad)
    score = rel + np.where(live, config.alpha * bid, 0.0)
    np.copyto(score, _NEG, where=pad)
    return _Prepared(
        pad=pad,
        has_campaign=has_campaign,
        eligible=eligible,
        budget_ok=budget_ok,
        below_reserve=below_reserve,
        live=live,
        rel=rel,
        pctr=pctr,
        bid=bid,
        score=score,
        product=product,
    )


def _price_cpc(b_min: FloatArray, bid: FloatArray, pctr: FloatArray, reserve: int) -> IntArray:
    """Per-click integer price from the minimum per-impression bid: reserve <= price <= bid / pctr."""
    cap = np.floor(bid / pctr)
    price = np.rint(np.maximum(b_min, 0.0) / pctr)
    price = np.minimum(np.maximum(price, float(reserve)), cap)
    return price.astype(np.int64)


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
    org[~np.isfinite(score)] = _NEG
    slot = np.full((R, S), -1, dtype=np.int64)
    promoted = np.zeros((R, S), dtype=np.bool_)
    win = np.full((R, S), _NEG)
    runner = np.full((R, S), _NEG)
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
        filled = v > _NEG
        promo = allowed & filled & live[rows, w]
        ad[rows, w] = _NEG
        org[rows, w] = _NEG
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
    prep = _prepare(batch, slots, config)
    R, N = prep.score.shape
    S = int(slots)
    cap = max_ads(S, config)
    spacing = int(config.min_ad_spacing)
    alpha = float(config.alpha)
    reserve = int(config.reserve_cpc_micros)

    dup = _dedupe_batch(prep.product, prep.score)
    score = np.where(dup, _NEG, prep.score)
    rel = np.where(prep.pad | dup, _NEG, prep.rel)
    live = prep.live & ~dup

    alloc = _allocate_batch(score, rel, live, S, cap, spacing)
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
        price[pr, ps] = _price_cpc(b_min, w_bid, w_pctr, reserve)

    reason, shortfall = _reasons_batch(prep, dup, alloc, alpha)
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
    cf_score = np.where(cf_live, score[pr], np.where(np.isfinite(score[pr]), rel[pr], _NEG))
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


def _reasons_batch(
    prep: _Prepared, dup: BoolArray, alloc: _Allocation, alpha: float
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


# --------------------------------------------------------------------------------------------------------
# per-request reference path


def _greedy_one(
    score: FloatArray, rel: FloatArray, live: BoolArray, avail: BoolArray, S: int, cap: int, spacing: int
) -> tuple[list[int], list[bool], list[float], list[float], list[bool]]:
    """One request, plainly: at each slot, the best effective score among the remaining candidates."""
    remaining = avail.copy()
    slots: list[int] = []
    promo: list[bool] = []
    win: list[float] = []
    runner: list[float] = []
    allowed_at: list[bool] = []
    used, last = 0, None
    for s in range(S):
        allowed = used < cap and (last is None or s - last > spacing) and bool(live.any())
        eff = np.where(live & allowed, score, rel)
        eff = np.where(remaining, eff, _NEG)
        allowed_at.append(allowed)
        if not remaining.any():
            slots.append(-1)
            promo.append(False)
            win.append(_NEG)
            runner.append(_NEG)
            continue
        w = int(np.argmax(eff))  # first maximum = lowest column on ties
        remaining[w] = False
        is_promo = bool(allowed and live[w])
        slots.append(w)
        promo.append(is_promo)
        win.append(float(eff[w]))
        others = np.where(remaining, np.where(live & allowed, score, rel), _NEG)
        runner.append(float(others.max()) if is_promo else _NEG)
        if is_promo:
            used += 1
            last = s
    return slots, promo, win, runner, allowed_at


def run_auction_reference(batch: AuctionBatch, slots: int, config: AuctionConfig) -> AuctionResult:
    """The same auction as :func:`run_auction`, one request at a time (test oracle and baseline)."""
    prep = _prepare(batch, slots, config)
    R, N = prep.score.shape
    S = int(slots)
    cap = max_ads(S, config)
    spacing = int(config.min_ad_spacing)
    alpha = float(config.alpha)
    reserve = int(config.reserve_cpc_micros)
    e = None if batch.examination is None else np.asarray(batch.examination, dtype=np.float64)

    slot_out = np.full((R, S), -1, dtype=np.int64)
    promo_out = np.zeros((R, S), dtype=np.bool_)
    price_out = np.zeros((R, S), dtype=np.int64)
    reason_out = np.zeros((R, N), dtype=np.int8)
    short_out = np.zeros((R, N))
    for r in range(R):
        score, rel, live = prep.score[r], prep.rel[r], prep.live[r].copy()
        # de-duplicate: keep the best copy of each product (first column on ties)
        best: dict[int, int] = {}
        for i in range(N):
            p = int(prep.product[r, i])
            if p < 0:
                continue
            j = best.get(p)
            if j is None or score[i] > score[j]:
                best[p] = i
        avail = np.zeros(N, dtype=np.bool_)
        for i in best.values():
            avail[i] = True
        dup = ~avail & ~prep.pad[r]
        live &= avail
        sl, pm, win, runner, allowed = _greedy_one(score, rel, live, avail, S, cap, spacing)
        slot_out[r] = sl
        promo_out[r] = pm
        for s in range(S):
            if not pm[s]:
                continue
            i = sl[s]
            if config.mechanism == "gsp":
                b_min = (runner[s] - rel[i]) / alpha
            else:
                assert e is not None
                cf_live = live.copy()
                cf_live[i] = False
                cf_score = np.where(cf_live | ~avail, score, rel)
                cs, _, cw, _, _ = _greedy_one(cf_score, rel, cf_live, avail, S, cap, spacing)
                total = 0.0
                for k in range(S):
                    cf_term = cw[k] if cs[k] >= 0 else 0.0
                    base = rel[i] if k == s else (win[k] if sl[k] >= 0 else 0.0)
                    total = total + (e[k] / e[s]) * (cf_term - base)
                b_min = total / alpha
            price_out[r, s] = _price_cpc(
                np.array([b_min]), np.array([prep.bid[r, i]]), np.array([prep.pctr[r, i]]), reserve
            )[0]
        shown = {i for i in sl if i >= 0}
        for i in range(N):
            if prep.pad[r, i]:
                reason_out[r, i] = Reason.PADDING
            elif dup[i]:
                reason_out[r, i] = Reason.DUPLICATE
            elif i in shown:
                reason_out[r, i] = Reason.SHOWN
            elif prep.has_campaign[r, i] and not prep.eligible[r, i]:
                reason_out[r, i] = Reason.INELIGIBLE
            elif prep.has_campaign[r, i] and not prep.budget_ok[r, i]:
                reason_out[r, i] = Reason.BUDGET_EXHAUSTED
            elif prep.below_reserve[r, i]:
                reason_out[r, i] = Reason.BELOW_RESERVE
            elif live[i]:
                capped = any(
                    not allowed[s] and (score[i] > win[s] or (score[i] == win[s] and i < sl[s]))
                    for s in range(S)
                )
                if capped:
                    reason_out[r, i] = Reason.AD_LOAD_CAP
                else:
                    reason_out[r, i] = Reason.OUTBID
                    targets = [win[s] for s in range(S) if allowed[s]]
                    short_out[r, i] = (min(targets) - score[i]) / alpha if targets else np.inf
            else:
                reason_out[r, i] = Reason.OUTBID
                short_out[r, i] = min(win) - rel[i]
    return AuctionResult(
        slot=slot_out, promoted=promo_out, price_cpc_micros=price_out, reason=reason_out, shortfall=short_out
    )
