"""Validating and preparing an auction's input, and the per-click price rule — shared by the batch auction
(:func:`sitewide.domain.auction.run_auction`) and the per-request reference
(:func:`sitewide.domain.auction_reference.run_auction_reference`). See :mod:`sitewide.domain.auction` for the
mechanism."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError

if TYPE_CHECKING:
    from sitewide.domain.auction import AuctionBatch, AuctionConfig

NEG = -np.inf
MAX_PRICE = 2.0**62  # per-click prices must fit int64 micros


@dataclass(frozen=True)
class Prepared:
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


def prepare(batch: AuctionBatch, slots: int, config: AuctionConfig) -> Prepared:
    from sitewide.domain.auction import AuctionConfig  # the types live with the mechanism (import cycle)

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
    if ad_ok_gate.any() and np.where(ad_ok_gate, per_click, 0.0).max() >= MAX_PRICE:
        raise ValidationError(f"bid per click must stay below {MAX_PRICE:.0e} micros")
    clears = (bid > 0) & (per_click >= float(config.reserve_cpc_micros))
    below_reserve = ad_ok_gate & ~clears
    live = ad_ok_gate & clears if config.alpha > 0 else np.zeros_like(pad)
    score = rel + np.where(live, config.alpha * bid, 0.0)
    np.copyto(score, NEG, where=pad)
    return Prepared(
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


def price_cpc(b_min: FloatArray, bid: FloatArray, pctr: FloatArray, reserve: int) -> IntArray:
    """Per-click integer price from the minimum per-impression bid: reserve <= price <= bid / pctr."""
    cap = np.floor(bid / pctr)
    price = np.rint(np.maximum(b_min, 0.0) / pctr)
    price = np.minimum(np.maximum(price, float(reserve)), cap)
    return price.astype(np.int64)
